#!/usr/bin/env bash
# Nudges (docs/design/ring-cluster.md, "Recovery at default settings"), at
# default keepalives (15 s).  Three nodes, one device attached to two.
#  1. Forged nudges (raw UDP from a ring node's address, every node claimed
#     dead) make the agent check its links, at most once per 2 s, and drop
#     none: both nodes answer its pings.
#  2. Both attached nodes are killed: the third node, which holds the
#     device's record, nudges it; the agent checks its links, gives them up
#     and attaches to the third node, which vendors reach it through.
# Part 1 needs a raw socket (root); without one it is skipped.
. "$(dirname "$0")/lib.sh"

make_ring 3
for i in 0 1 2; do start_node_metrics "$i"; done
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key
dev_id=$(device dev)
start_agent dev --attach 2 --allow "$ven_id:9"

live_addrs() {
	"$CARRIER" lookup "$dev_id" --json 2>/dev/null |
		grep -o '"address":"[^"]*","live":true' | sed 's/"address":"\([^"]*\)".*/\1/' | sort
}
two_live() { [ "$(live_addrs | wc -l)" -eq 2 ]; }
wait_until 20 two_live || fail "device not on two nodes: $("$CARRIER" lookup "$dev_id" 2>&1)"
before=$(live_addrs)
ok "attached to $(tr '\n' ' ' <<<"$before")"

# The agent's UDP port (its one socket).
port=$(ss -H -ulpn 2>/dev/null | grep "pid=$AGENT_PID," | awk '{ print $4 }' | sed 's/.*://' | head -1)
[ -n "$port" ] || fail "cannot find the agent's UDP port"

# ---- 1. forged nudges --------------------------------------------------
forge() { # forge SRC_PORT DST_PORT COUNT GAP_S: nudges with an all-dead view
	python3 - "$@" <<'EOF'
import socket, struct, sys, time
src, dst, count, gap = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
payload = bytes([6, 0, 0, 0]) + struct.pack('<Q', 1) + b'\x00'
udp = struct.pack('!HHHH', src, dst, 8 + len(payload), 0) + payload
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
for _ in range(count):
    s.sendto(udp, ('127.0.0.1', 0))
    time.sleep(gap)
EOF
}
src_port=${NODE_ADDR[0]##*:}
if python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)' 2>/dev/null; then
	forge "$src_port" "$port" 25 0.2 || fail "could not send forged nudges"
	sleep 3
	checks=$(grep -c "reports our nodes dead" "$T/dev.log" || true)
	[ "$checks" -ge 1 ] || fail "the agent ignored nudges from a ring node's address"
	# 25 nudges over about 5 s: at most one per 2 s is acted on.
	[ "$checks" -le 4 ] || fail "the agent acted on $checks of 25 nudges in 5 s"
	grep -q "home node unreachable\|lost node" "$T/dev.log" && fail "a forged nudge made the agent drop a live node: $(grep -m1 "unreachable\|lost node" "$T/dev.log")"
	[ "$(live_addrs)" = "$before" ] || fail "links changed after forged nudges: $(live_addrs | tr '\n' ' ')"
	ok "25 forged nudges: the agent checked its links $checks times, both nodes answered, nothing moved"
	# From an address that is no ring node's: ignored.
	forge 9 "$port" 3 0.7
	sleep 1
	[ "$(grep -c "reports our nodes dead" "$T/dev.log")" = "$checks" ] || fail "a nudge from a non-ring address was acted on"
	ok "nudges from other addresses ignored"
else
	echo "no raw socket here: forged nudges not tested"
fi

# ---- 2. both attached nodes die ----------------------------------------
victims=() third=-1
for i in 0 1 2; do
	if grep -qx "${NODE_ADDR[$i]}" <<<"$before"; then victims+=("$i"); else third=$i; fi
done
if [ "${#victims[@]}" -ne 2 ] || [ "$third" -lt 0 ]; then fail "attached nodes not found in: $before"; fi
marker=$(wc -l <"$T/dev.log")
for v in "${victims[@]}"; do kill -KILL "${NODE_PID[$v]}"; done
on_third() { live_addrs | grep -qx "${NODE_ADDR[$third]}"; }
wait_until 60 on_third || fail "device not attached to the surviving node: $("$CARRIER" lookup "$dev_id" 2>&1)"
nudges=$(metric "$third" carrier_node_nudges_sent_total)
[ "${nudges:-0}" -ge 1 ] || fail "the surviving node sent no nudge"
# The agent moved because it was nudged: it checked its links first.
after=$(tail -n +"$((marker + 1))" "$T/dev.log")
grep -q "reports our nodes dead" <<<"$after" || fail "the agent moved without acting on a nudge: $after"
first_check=$(grep -n -m1 "reports our nodes dead" <<<"$after" | cut -d: -f1)
first_move=$(grep -n -m1 "lost node\|unreachable" <<<"$after" | cut -d: -f1)
if [ -z "$first_move" ] || [ "$first_check" -ge "$first_move" ]; then fail "the links went before the nudge: $after"; fi
ok "node ${NODE_ADDR[$third]} sent $nudges nudges; the agent checked its links and moved there"
out=$("$CARRIER" ping "$dev_id" -c 2) || fail "ping after the move: $out"
grep -q "2 sent, 2 received" <<<"$out" || fail "ping: $out"
ok "device reachable through the surviving node"
echo "PASS"
