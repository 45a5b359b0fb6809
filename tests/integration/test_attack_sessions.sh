#!/usr/bin/env bash
# Attack: one identity opens many sessions (40 hosts with the same vendor
# key, each its own instance and socket).  The node keeps at most
# --sessions-per-identity of them established (carrier_node_sessions stays
# at the cap, where it used to hold all 40): each one that comes up beyond
# it replaces that identity's least recently heard session.  A device
# agent that restarts (a new instance) still attaches at once.
. "$(dirname "$0")/lib.sh"
: "${ATTACK:?run through ctest}"

CAP=4 N=40
make_ring 1
start_node_metrics 0 --sessions-per-identity $CAP
wait_until 10 curl -sf "http://${METRICS[0]}/metrics" -o /dev/null || fail "node did not start"
sessions() { metric 0 carrier_node_sessions; }

vendor evil >/dev/null
"$ATTACK" sessions "$T/evil.key" "${NODE_KEY[0]}.pub" "${NODE_ADDR[0]}" $N \
	>"$T/attack.out" 2>"$T/attack.err" &
PIDS+=("$!")
wait_until 30 grep -q "^sessions:" "$T/attack.out" || fail "attack: $(cat "$T/attack.err")"
ok "$(cat "$T/attack.out")"
s=$(sessions)
[ "$s" -le "$CAP" ] || fail "the node holds $s sessions of one identity (cap $CAP)"
[ "$s" -ge 1 ] || fail "the node holds none of the identity's sessions"
ok "the node holds $s of the identity's $N sessions"

# A device's sessions during restarts: each new instance comes up and the
# oldest silent one gives way.
vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key
dev_id=$(device dev)
for i in 1 2 3 4 5 6; do
	start_agent dev --keepalive 1s
	wait_until 10 online "$dev_id" || fail "device did not attach on start $i"
	kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
done
start_agent dev --keepalive 1s
wait_until 10 online "$dev_id" || fail "device did not attach after 6 restarts"
grep -q "attached to node" "$T/dev.log" || fail "no attach in the agent's log"
ok "a device restarted 6 times attaches again (sessions now $(sessions))"
echo "PASS"
