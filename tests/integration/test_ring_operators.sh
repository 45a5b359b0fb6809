#!/usr/bin/env bash
# A ring of three operators (companies A, B, C), any two of whom sign an
# epoch: real carrier-node processes, a device agent and the vendor's CLI.
#   - an epoch signed by one of the three is refused by nodes, agents and
#     the CLI; signed by two, it spreads from node to node, to the agent
#     and to the CLI;
#   - C retires its own node with A's signature;
#   - A rotates its key (a handover signed by two of the old set, the new
#     epoch by two of the new one): the attached device follows the chain
#     from the set it pinned, without being given a new ring file, and stays
#     reachable through an epoch signed by the new key.
. "$(dirname "$0")/lib.sh"

for o in A B C A2 D; do "$CARRIER" keygen --type operator -o "$T/$o.key" >/dev/null; done
args=()
for i in 0 1 2; do
	NODE_KEY[$i]=$T/node$i.key
	NODE_ADDR[$i]=127.0.0.1:$(free_port)
	"$CARRIER" keygen --type node -o "${NODE_KEY[$i]}" >/dev/null
	args+=(--node "${NODE_KEY[$i]}.pub@${NODE_ADDR[$i]}")
done
# A signs at init; B's signature makes epoch 1 complete.
out=$("$CARRIER" ring init --operator "$T/A.key" --operator "$T/B.key.pub" \
	--operator "$T/C.key.pub" --threshold 2 "${args[@]}" -o "$T/ring") || fail "init: $out"
grep -q "DRAFT signed by 1 of its 3 operators (2 needed)" <<<"$out" || fail "init: $out"
"$CARRIER" ring sign "$T/ring" --operator "$T/B.key" >/dev/null || fail "B's signature"
set1=$(sed -n 's/^# operators \(opset_[0-9a-f]*\),.*/\1/p' "$T/ring")
[ -n "$set1" ] || fail "no operator set in the ring file: $(head -5 "$T/ring")"
# The vendor's copy of the ring is epoch 1 throughout: the CLI learns the
# later epochs from the nodes.
cp "$T/ring" "$T/vendor.ring"
export CARRIER_RING=$T/vendor.ring

for i in 0 1 2; do start_node_metrics "$i" --heartbeat 100ms --peer-timeout 500ms; done
all_at() { # all_at EPOCH ALIVE NODE...: those nodes run EPOCH and see ALIVE
	local e=$1 n=$2; shift 2
	for i in "$@"; do
		[ "$(metric "$i" carrier_node_ring_epoch)" = "$e" ] || return 1
		[ "$(metric "$i" carrier_node_peers_alive)" = "$n" ] || return 1
	done
}
wait_until 10 all_at 1 3 0 1 2 || fail "nodes do not come up at epoch 1"
ven_id=$(vendor ven)
export CARRIER_KEY=$T/ven.key
dev_id=$(device dev)
# The device is pinned to the first operator set, explicitly.
start_agent dev --keepalive 300ms --attach 2 --operator "$set1" --allow "$ven_id:9"
wait_until 10 online "$dev_id" || fail "device not attached"
out=$("$CARRIER" ring status 2>&1) || fail "status: $out"
grep -q "epoch 1, operators 2 of 3 ($set1)" <<<"$out" || fail "status: $out"
ok "3 operators, 2 needed: epoch 1 runs on 3 nodes, the device is attached"

# ---- 1 of 3: A alone adds a node -------------------------------------------
NODE_KEY[3]=$T/node3.key
NODE_ADDR[3]=127.0.0.1:$(free_port)
"$CARRIER" keygen --type node -o "${NODE_KEY[3]}" >/dev/null
"$CARRIER" ring add-node --operator "$T/A.key" --ring "$T/ring" \
	"${NODE_KEY[3]}.pub@${NODE_ADDR[3]}" -o "$T/e2.draft" >/dev/null || fail "add-node draft"
refused="signed by 1 of its 3 operators, it needs 2"
out=$("$CARRIER" ring status --ring "$T/e2.draft" 2>&1) && fail "CLI ran a 1-of-3 epoch: $out"
grep -q "$refused" <<<"$out" || fail "CLI refused for another reason: $out"
out=$(timeout 10 "$CARRIER_NODE" --key "${NODE_KEY[3]}" --ring "$T/e2.draft" \
	--listen "${NODE_ADDR[3]}" --data "$T/node3.d" 2>&1) && fail "node ran a 1-of-3 epoch"
grep -q "$refused" <<<"$out" || fail "node refused for another reason: $out"
device dev2 >/dev/null
out=$(timeout 10 "$CARRIER_AGENT" --key "$T/dev2.key" --ring "$T/e2.draft" --data "$T/dev2.d" 2>&1) &&
	fail "agent ran a 1-of-3 epoch"
grep -q "$refused" <<<"$out" || fail "agent refused for another reason: $out"
# A running node handed it (SIGHUP with the draft as its ring) keeps epoch 1.
cp "$T/ring" "$T/ring.epoch1"
cp "$T/e2.draft" "$T/ring"
kill -HUP "${NODE_PID[0]}"
wait_until 10 grep -q "reload failed" "$T/node0.log" || fail "node 0 did not refuse the draft"
grep "reload failed" "$T/node0.log" | grep -q "$refused" || fail "node 0: $(grep 'reload failed' "$T/node0.log")"
cp "$T/ring.epoch1" "$T/ring"
all_at 1 3 0 1 2 || fail "a node left epoch 1"
# A key outside the set adds nothing.
out=$("$CARRIER" ring sign "$T/e2.draft" --operator "$T/D.key" 2>&1) && fail "outsider signed: $out"
grep -q "nothing to sign" <<<"$out" || fail "outsider: $out"
ok "an epoch signed by 1 of 3 is refused by the CLI, a node (start and reload) and an agent"

# ---- 2 of 3: B signs; node 3 starts with it and spreads it ----------------
out=$("$CARRIER" ring sign "$T/e2.draft" --operator "$T/B.key" --ring "$T/ring" -o "$T/e2") || fail "B: $out"
grep -q "adds node" <<<"$out" || fail "sign did not show the change: $out"
grep -q "signed by 2 of its 3 operators (2 needed): complete" <<<"$out" || fail "B: $out"
METRICS[3]=127.0.0.1:$(free_port)
"$CARRIER_NODE" --key "${NODE_KEY[3]}" --ring "$T/e2" --listen "${NODE_ADDR[3]}" \
	--data "$T/node3.d" --metrics "${METRICS[3]}" --heartbeat 100ms --peer-timeout 500ms \
	>>"$T/node3.log" 2>&1 &
NODE_PID[3]=$!
PIDS+=("$!")
wait_until 15 all_at 2 4 0 1 2 3 || fail "epoch 2 did not spread"
wait_until 10 grep -q "accepted ring configuration epoch 2" "$T/dev.log" || fail "agent did not take epoch 2"
out=$("$CARRIER" ring status 2>&1) || true
grep -q "epoch 2 from node .* saved to $T/vendor.ring" <<<"$out" || fail "CLI did not take epoch 2: $out"
ok "an epoch signed by 2 of 3 is accepted by every node, the agent and the CLI"

# ---- C retires its node 2, with A's signature ------------------------------
"$CARRIER" ring remove-node --operator "$T/C.key" --ring "$T/e2" "${NODE_KEY[2]}.pub" \
	-o "$T/e3.draft" >/dev/null || fail "remove-node draft"
out=$("$CARRIER" ring sign "$T/e3.draft" --operator "$T/A.key" --ring "$T/e2" -o "$T/e3") || fail "A: $out"
grep -q "removes node" <<<"$out" || fail "sign did not show the removal: $out"
cp "$T/e3" "$T/ring"
kill -HUP "${NODE_PID[0]}"
kill -TERM "${NODE_PID[2]}"
unset 'METRICS[2]'
wait_until 15 all_at 3 3 0 1 3 || fail "epoch 3 did not spread: $(for i in 0 1 3; do metric "$i" carrier_node_ring_epoch; done | tr '\n' ' ')"
wait_until 10 grep -q "accepted ring configuration epoch 3" "$T/dev.log" || fail "agent did not take epoch 3"
wait_until 15 online "$dev_id" || fail "device not reachable after node 2 retired"
out=$("$CARRIER" ring status 2>&1) || fail "status after retiring: $out"
grep -q "3 of 3 nodes up" <<<"$out" || fail "status: $out"
ok "C retired its node with A's signature: 3 nodes at epoch 3, the device reachable"

# ---- A rotates its key: A's and B's signatures hand over, A2's and B's sign
out=$("$CARRIER" ring set-operators --operator "$T/A.key" --ring "$T/e3" --member "$T/A2.key.pub" \
	--member "$T/B.key.pub" --member "$T/C.key.pub" --threshold 2 -o "$T/e4") || fail "set-operators: $out"
"$CARRIER" ring sign "$T/e4" --operator "$T/B.key" >/dev/null || fail "B on the rotation"
out=$("$CARRIER" ring status --ring "$T/e4" 2>&1) && fail "rotation with 1 of the new set ran: $out"
out=$("$CARRIER" ring sign "$T/e4" --operator "$T/A2.key" 2>&1) || fail "A2 on the rotation: $out"
grep -q "complete" <<<"$out" || fail "rotation not complete: $out"
set2=$(sed -n 's/^# operators \(opset_[0-9a-f]*\),.*/\1/p' "$T/e4")
[ -n "$set2" ] && [ "$set2" != "$set1" ] || fail "the set did not change"
cp "$T/e4" "$T/ring"
kill -HUP "${NODE_PID[0]}"
wait_until 15 all_at 4 3 0 1 3 || fail "epoch 4 (rotation) did not spread"
wait_until 10 grep -q "accepted ring configuration epoch 4" "$T/dev.log" || fail "agent did not follow the rotation"
# The new key, with C, signs epoch 5 (a node added); the old key is out.
NODE_KEY[4]=$T/node4.key
NODE_ADDR[4]=127.0.0.1:$(free_port)
"$CARRIER" keygen --type node -o "${NODE_KEY[4]}" >/dev/null
"$CARRIER" ring add-node --operator "$T/A.key" --ring "$T/e4" "${NODE_KEY[4]}.pub@${NODE_ADDR[4]}" \
	-o "$T/x" >/dev/null 2>&1 && fail "the retired key A still signs"
"$CARRIER" ring add-node --operator "$T/A2.key" --ring "$T/e4" "${NODE_KEY[4]}.pub@${NODE_ADDR[4]}" \
	-o "$T/e5" >/dev/null || fail "A2 add-node"
"$CARRIER" ring sign "$T/e5" --operator "$T/C.key" >/dev/null || fail "C on epoch 5"
METRICS[4]=127.0.0.1:$(free_port)
"$CARRIER_NODE" --key "${NODE_KEY[4]}" --ring "$T/e5" --listen "${NODE_ADDR[4]}" \
	--data "$T/node4.d" --metrics "${METRICS[4]}" --heartbeat 100ms --peer-timeout 500ms \
	>>"$T/node4.log" 2>&1 &
NODE_PID[4]=$!
PIDS+=("$!")
wait_until 15 all_at 5 4 0 1 3 4 || fail "epoch 5 did not spread"
wait_until 10 grep -q "accepted ring configuration epoch 5" "$T/dev.log" || fail "agent did not take epoch 5"
pin=$(cat "$T/dev.d/operator.pin")
grep -q "^korhal-operators " <<<"$pin" && grep -q " 5$" <<<"$pin" || fail "agent pin: $pin"
# The vendor's CLI, pinned to the first set at epoch 2, follows too.
out=$("$CARRIER" ring status 2>&1) || true
grep -q "epoch 5 from node .* saved to $T/vendor.ring" <<<"$out" || fail "CLI did not follow the rotation: $out"
out=$("$CARRIER" ring status 2>&1) || fail "status: $out"
grep -q "epoch 5, operators 2 of 3 ($set2)" <<<"$out" || fail "status: $out"
wait_until 15 online "$dev_id" || fail "device not reachable after the rotation"
out=$("$CARRIER" ping "$dev_id" -c 1 2>&1) || fail "ping after the rotation: $out"
ok "A rotated its key: the device and the CLI followed the handover from their pin; epoch 5 by the new key; the device answers"
echo "PASS"
