#!/usr/bin/env bash
# A fleet record a node passes on to its peers is sent again until each
# acknowledges it (docs/fleet.md "Reports"): without that, one lost
# datagram lost a device's report for good, since the device had its own
# node's acknowledgement and does not send it again, and a rollout
# followed from the deployment's other home nodes waited for it.
# 2 nodes (both home nodes of everything), each in the test role
# fleet-lossy: the first copy of every record it passes on to its peer is
# not sent.  The device attaches to one node only; after its report, that
# node is killed: the other still holds the device's report.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"
node_help=$("$CARRIER_NODE" --help)
grep -q -- "fleet-lossy" <<<"$node_help" || exit 77

ROLLOUT_NODES=2
rollout_node_flags() {
	local i
	for i in 0 1; do
		METRICS[$i]=127.0.0.1:$(free_port)
		NODE_FLAGS_OF[$i]="--byzantine=fleet-lossy --metrics ${METRICS[$i]}"
	done
}
rollout_setup
# A record goes to the live nodes of its home set: both, once they see
# each other.
both_alive() { grep -q " is alive" "$T/node0.log" && grep -q " is alive" "$T/node1.log"; }
wait_until 20 both_alive || fail "the nodes did not see each other"
device d >/dev/null
start_agent d --trust "$T/trust" --tag site=lab --keepalive 1s --attach 1
wait_until 20 grep -q "attached to node" "$T/d.log" || fail "the agent did not attach: $(cat "$T/d.log")"
# The release's image is on no http origin: the device reports web 1.0
# rolled back, and that report is what the nodes pass on.
"$CARRIER" deploy "$T/web-1.0.release" --to tag:site=lab --waves 100 \
	--health-window 300ms --detach >"$T/deploy.out" 2>&1 ||
	fail "deploy 1.0: $(cat "$T/deploy.out")"
dev_id=$("$CARRIER" id "$T/d.key")
has_report() {
	"$CARRIER" status web --json >"$T/status.json" 2>"$T/status.err" &&
		grep "$dev_id" "$T/status.json" | grep -q '"state":"rolled_back"'
}
wait_until 60 has_report || fail "no report of the device: $(cat "$T/status.json" "$T/status.err")"
ok "the device reported web 1.0 (rolled back: no origin)"

node=$(sed -n 's/.*attached to node \(node_[a-z0-9]*\).*/\1/p' "$T/d.log" | head -1)
at=""
for i in 0 1; do
	[ "$("$CARRIER" id "${NODE_KEY[$i]}.pub")" = "$node" ] && at=$i
done
[ -n "$at" ] || fail "the device's node $node is not one of the ring's"
other=$((1 - at))
# The other node got the report by a later try: wait for it before the kill.
sleep 3
kill -TERM "${NODE_PID[$at]}"
wait "${NODE_PID[$at]}" 2>/dev/null || true
wait_until 30 has_report ||
	fail "node $other does not hold the device's report: $(cat "$T/status.json" "$T/status.err")"
lost=$(metric "$other" 'carrier_node_byzantine_told_total{role="fleet-lossy"}')
[ "${lost:-0}" -gt 0 ] || fail "node $other lost no copy (fleet-lossy not in effect)"
ok "node $other holds the report its peer passed on, though its first copy was lost (node $other lost $lost copies itself)"
echo "PASS"
