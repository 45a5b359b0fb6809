#!/usr/bin/env bash
# Membership: nodes of a ring hold sessions with each other, exchange
# heartbeats and see each other alive; a node started with the next epoch
# (carrier ring add-node) hands it to the running nodes, they to a device
# agent and to the vendor's CLI, each of which keeps it because the pinned
# operator signed it; a killed node is seen dead by the others and by
# `carrier ring status`.
. "$(dirname "$0")/lib.sh"

make_ring 3
cp "$T/ring" "$T/ring.epoch1"
for i in 0 1 2; do start_node_metrics "$i" --heartbeat 100ms --peer-timeout 500ms; done
all_see() { # all_see N EPOCH: every running node sees N alive at EPOCH
	for i in "${!METRICS[@]}"; do
		[ "$(metric "$i" carrier_node_peers_alive)" = "$1" ] || return 1
		[ "$(metric "$i" carrier_node_ring_epoch)" = "$2" ] || return 1
	done
}
wait_until 10 all_see 3 1 || fail "nodes do not see each other: $(metric 0 carrier_node_peers_alive)"
ok "3 nodes see each other alive at epoch 1"
[ "$(metric 0 carrier_node_heartbeats_received_total)" -gt 0 ] || fail "no heartbeats counted"

vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key
dev_id=$(device dev)
start_agent dev --keepalive 300ms --attach 2
wait_until 10 online "$dev_id" || fail "device not attached"

# The operator adds a fourth node; only that node gets the new file.
add_node 3
cp "$T/ring" "$T/ring.epoch2"
cp "$T/ring.epoch1" "$T/ring"   # the vendor still has epoch 1
METRICS[3]=127.0.0.1:$(free_port)
"$CARRIER_NODE" --key "${NODE_KEY[3]}" --ring "$T/ring.epoch2" \
	--listen "${NODE_ADDR[3]}" --data "$T/node3.d" --metrics "${METRICS[3]}" \
	--heartbeat 100ms --peer-timeout 500ms >>"$T/node3.log" 2>&1 &
NODE_PID[3]=$!
PIDS+=("$!")
wait_until 10 all_see 4 2 || fail "epoch 2 did not spread: $(for i in 0 1 2 3; do metric "$i" carrier_node_ring_epoch; done | tr '\n' ' ')"
ok "epoch 2 passed from the new node to every node; 4 alive"
grep -q "accepted ring configuration epoch 2" "$T/node0.log" || fail "node 0 log"
wait_until 10 grep -q "accepted ring configuration epoch 2" "$T/dev.log" ||
	fail "the agent did not take epoch 2"
ok "the agent took epoch 2 from its home node"

# The vendor's CLI learns it on its next command and keeps it.
out=$("$CARRIER" ring status 2>&1) || true
grep -q "epoch 2 from node .* saved to $T/ring" <<<"$out" || fail "CLI did not save epoch 2: $out"
out=$("$CARRIER" ring status 2>&1) || fail "ring status: $out"
grep -q "epoch 2, operator" <<<"$out" || fail "ring file not at epoch 2: $out"
[ "$(grep -c ' up .*epoch 2  sees 4/4 alive' <<<"$out")" = 4 ] || fail "status: $out"
ok "the CLI saved epoch 2; ring status: 4 up, each sees 4/4 alive"

# A configuration signed by another operator is refused by the CLI: the
# ring file it pinned (operators are pinned per ring file) turns up signed
# by someone else.
"$CARRIER" keygen --type operator -o "$T/evil.key" >/dev/null
cp "$T/ring" "$T/evil.ring"
"$CARRIER" ring status --ring "$T/evil.ring" >/dev/null 2>&1 || true
"$CARRIER" ring init --force --operator "$T/evil.key" --node "$T/node0.key.pub@${NODE_ADDR[0]}" -o "$T/evil.ring" >/dev/null
out=$("$CARRIER" ring status --ring "$T/evil.ring" 2>&1) && fail "foreign ring accepted: $out"
grep -q "pins operator" <<<"$out" || fail "foreign ring refused for another reason: $out"
ok "a ring from another operator is refused"

kill -KILL "${NODE_PID[2]}"
unset 'METRICS[2]'
t0=$(date +%s%N)
wait_until 10 all_see 3 2 || fail "the dead node is still seen alive"
ok "node 2 seen dead by the others after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
out=$("$CARRIER" ring status 2>&1) && fail "status should fail with a node down: $out"
grep -q "${NODE_ADDR[2]} *DOWN" <<<"$out" || fail "status: $out"
grep -q "3 of 4 nodes up" <<<"$out" || fail "status: $out"
[ "$(metric 0 carrier_node_peer_deaths_total)" -ge 1 ] || fail "peer deaths not counted"
ok "ring status shows node 2 DOWN, 3 of 4 up"
echo "PASS"
