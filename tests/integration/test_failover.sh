#!/usr/bin/env bash
# A device keeps two home-node sessions when nodes die: in a ring of three,
# the device attaches to two nodes; one of them is killed, and the agent
# moves that session to the third node by itself; the device stays
# reachable with `carrier ping` throughout.
. "$(dirname "$0")/lib.sh"

make_ring 3
for i in 0 1 2; do start_node "$i"; done
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key
dev_id=$(device dev)
start_agent dev --keepalive 1s --attach 2 --allow "$ven_id:9"

live_addrs() {
	"$CARRIER" lookup "$dev_id" --json 2>/dev/null |
		grep -o '"address":"[^"]*","live":true' | sed 's/"address":"\([^"]*\)".*/\1/' | sort
}
two_live() { [ "$(live_addrs | wc -l)" -eq 2 ]; }
wait_until 15 two_live || fail "device not on two nodes: $("$CARRIER" lookup "$dev_id" 2>&1)"
before=$(live_addrs)
victim=-1
for i in 0 1 2; do grep -qx "${NODE_ADDR[$i]}" <<<"$before" && victim=$i; done
[ "$victim" -ge 0 ] || fail "no attached node found in: $before"
ok "attached to $(tr '\n' ' ' <<<"$before")"

kill -KILL "${NODE_PID[$victim]}"
t0=$(date +%s%N)
moved() { two_live && ! live_addrs | grep -qx "${NODE_ADDR[$victim]}"; }
wait_until 20 moved || fail "agent did not move off the dead node: $("$CARRIER" lookup "$dev_id" 2>&1)"
t1=$(date +%s%N)
ok "session moved to another node $(( (t1 - t0) / 1000000 )) ms after the kill: $(live_addrs | tr '\n' ' ')"
out=$("$CARRIER" ping "$dev_id" -c 2) || fail "ping after failover: $out"
grep -q "2 sent, 2 received" <<<"$out" || fail "ping: $out"
ok "device reachable after the failover"
echo "PASS"
