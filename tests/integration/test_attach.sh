#!/usr/bin/env bash
# Foundation: a node, one real agent and 49 simulated devices attach and are
# found by `carrier lookup`; records survive a SIGKILL of the node and the
# agents re-attach by themselves; 10,000 hostile datagrams leave the node
# serving; the daemon's config checks, reload and clean shutdown.
. "$(dirname "$0")/lib.sh"

make_ring 1
metrics=127.0.0.1:$(free_port)
start_node 0 --metrics "$metrics"
vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key

dev_id=$(device dev)
start_agent dev --keepalive 1s
"$DEVSIM" --ring "$T/ring" --dir "$T/sim" -n 49 --keepalive 1s >>"$T/devsim.log" 2>&1 &
PIDS+=("$!")
wait_until 10 test -s "$T/sim/ids.txt" || fail "devsim did not start"
wait_until 10 sh -c "[ \$(wc -l < $T/sim/ids.txt) -eq 49 ]" || fail "devsim ids"
mapfile -t ids < "$T/sim/ids.txt"
ids+=("$dev_id")
[ "${#ids[@]}" -eq 50 ] || fail "expected 50 devices, have ${#ids[@]}"

for id in "${ids[@]}"; do
	wait_until 15 online "$id" || fail "device $id never attached"
done
ok "all 50 devices attached and found by carrier lookup"

out=$("$CARRIER" lookup "$dev_id")
grep -q "^device    $dev_id" <<<"$out" || fail "lookup output: $out"
grep -q "^attached  node_" <<<"$out" || fail "lookup shows no node: $out"
grep -q "^address   127.0.0.1:" <<<"$out" || fail "lookup shows no address: $out"
ok "human-readable lookup"

# Unknown and mistyped identities.
ghost=$(device ghost)
set +e
msg=$("$CARRIER" lookup "$ghost" 2>&1); rc=$?
set -e
[ "$rc" -eq 3 ] || fail "unknown device: exit $rc ($msg)"
grep -q "unknown" <<<"$msg" || fail "unknown device message: $msg"
typo=${dev_id:0:10}$( [ "${dev_id:10:1}" = a ] && echo b || echo a )${dev_id:11}
set +e
msg=$("$CARRIER" lookup "$typo" 2>&1); rc=$?
set -e
[ "$rc" -eq 2 ] || fail "mistyped id: exit $rc ($msg)"
grep -qi "checksum\|invalid" <<<"$msg" || fail "mistyped id message: $msg"
ok "unknown device exits 3, mistyped id exits 2"

# SIGKILL the node: records survive in LMDB, agents re-attach.
seq_before=$(json_field "$("$CARRIER" lookup "$dev_id" --json)" seq)
kill -KILL "${NODE_PID[0]}"
wait "${NODE_PID[0]}" 2>/dev/null || true
start_node 0 --metrics "$metrics"
wait_until 20 "$CARRIER" lookup "$dev_id" --json || fail "no answer after restart"
j=$("$CARRIER" lookup "$dev_id" --json)
seq_after=$(json_field "$j" seq)
[ -n "$seq_after" ] && [ "$seq_after" -ge "$seq_before" ] || fail "record lost: $j"
for id in "${ids[@]}"; do
	"$CARRIER" lookup "$id" --json >/dev/null || fail "record of $id lost in restart"
done
ok "50 records survived SIGKILL (seq $seq_before -> $seq_after)"
for id in "${ids[@]}"; do
	wait_until 20 online "$id" || fail "device $id did not re-attach"
done
seq_new=$(json_field "$("$CARRIER" lookup "$dev_id" --json)" seq)
[ "$seq_new" -gt "$seq_before" ] || fail "agent did not re-publish ($seq_new)"
ok "all 50 agents re-attached by themselves"

# Hostile datagrams.
"$UDPJUNK" "${NODE_KEY[0]}.pub" "${NODE_ADDR[0]}" 10000 7 >/dev/null
kill -0 "${NODE_PID[0]}" || fail "node died under hostile datagrams"
m=$(curl -sf "http://$metrics/metrics") || fail "metrics endpoint"
drops=$(awk '/^carrier_node_drops_total/ {s += $2} END {print s+0}' <<<"$m")
[ "$drops" -ge 5000 ] || fail "expected thousands of counted drops, got $drops"
for id in "${ids[@]}"; do
	online "$id" || wait_until 10 online "$id" || fail "$id unreachable after junk"
done
ok "10,000 hostile datagrams: node serving, $drops drops counted by reason"
grep -q '^carrier_node_devices_attached 50$' <<<"$m" || \
	fail "metrics: $(grep devices_attached <<<"$m")"

# The ring as operators see it, and epochs: add-node, remove-node, rollback.
out=$("$CARRIER" ring status) || fail "ring status: $out"
grep -q "epoch 1, operator op_" <<<"$out" || fail "ring status header: $out"
grep -q "up    rtt .* epoch 1  sees 1/1 alive$" <<<"$out" || fail "ring status node line: $out"
grep -q "^1 of 1 nodes up" <<<"$out" || fail "ring status summary: $out"
cp "$T/ring" "$T/ring.e1"
"$CARRIER" keygen --type node -o "$T/extra.key" >/dev/null
"$CARRIER" ring add-node --operator "$T/op.key" --ring "$T/ring" "$T/extra.key.pub@127.0.0.1:9" | grep -q "ring epoch 2: added" || fail "add-node"
set +e
out=$("$CARRIER" ring status); rc=$?
set -e
[ "$rc" -eq 1 ] || fail "ring status with a node down: exit $rc"
grep -q "epoch 1 (behind)" <<<"$out" && grep -q "DOWN" <<<"$out" && grep -q "^1 of 2 nodes up" <<<"$out" || fail "ring status epoch 2: $out"
"$CARRIER" keygen --type operator -o "$T/evil-op.key" >/dev/null
set +e
msg=$("$CARRIER" ring add-node --operator "$T/evil-op.key" --ring "$T/ring" "$T/extra.key.pub@127.0.0.1:9" 2>&1); rc=$?
set -e
[ "$rc" -ne 0 ] || fail "another operator extended the ring: $msg"
"$CARRIER" ring remove-node --operator "$T/op.key" --ring "$T/ring" "$T/extra.key.pub" | grep -q "ring epoch 3: removed" || fail "remove-node"
set +e
msg=$(CARRIER_RING=$T/ring.e1 "$CARRIER" lookup "$dev_id" 2>&1); rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "refusing a rollback" <<<"$msg" || fail "old epoch accepted: $msg"
ok "ring status, add-node, remove-node; foreign operator and rollback refused"

# Config file, --check, SIGHUP and SIGTERM.
cat > "$T/node.conf" <<CONF
# carrier-node configuration
key = ${NODE_KEY[0]}
ring = $T/ring
listen = ${NODE_ADDR[0]}
data = $T/node0.d
CONF
"$CARRIER_NODE" --config "$T/node.conf" --check | grep -q "configuration OK" || fail "--check"
echo "bogus = 1" >> "$T/node.conf"
set +e
msg=$("$CARRIER_NODE" --config "$T/node.conf" --check 2>&1); rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "node.conf:6: unknown setting 'bogus'" <<<"$msg" || fail "bad config: $msg"
kill -HUP "${NODE_PID[0]}"
sleep 0.3
kill -0 "${NODE_PID[0]}" || fail "node died on SIGHUP"
grep -q "configuration reloaded" "$T/node0.log" || fail "no reload logged"
kill -TERM "${NODE_PID[0]}"
set +e
wait "${NODE_PID[0]}"; rc=$?
set -e
[ "$rc" -eq 0 ] || fail "node exit status $rc on SIGTERM"
ok "config file, --check, SIGHUP reload, clean SIGTERM"
echo "PASS"
