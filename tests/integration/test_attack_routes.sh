#!/usr/bin/env bash
# Attack: one vendor session asks for relay routes to one device without
# end (each with 16 candidates, some malformed).  The node holds at most
# --routes-per-device of them (its carrier_node_routes gauge stays at the
# cap, where it used to grow by one per request), refuses the rest with
# LIMIT (by connect-rate, then the device cap), passes the device at most
# 8 well-formed candidates an offer, and a second, honest vendor still
# connects to the device through the relay during and after the flood.
# Once idle past --route-idle, every route is freed by one sweep.
. "$(dirname "$0")/lib.sh"
: "${ATTACK:?run through ctest}"

CAP=16 FLOOD_S=20
make_ring 1
start_node_metrics 0 --routes-per-device $CAP --route-idle 4s
wait_until 10 curl -sf "http://${METRICS[0]}/metrics" -o /dev/null || fail "node did not start"
routes() { metric 0 carrier_node_routes; }
refused() { metric 0 "carrier_node_connects_refused_total{reason=\"$1\"}"; }

vendor evil >/dev/null
honest_id=$(vendor honest)
mkdir -p "$T/www"
echo "hello through the relay" >"$T/www/index.html"
start_www
dev_id=$(device dev)
start_agent dev --keepalive 1s --allow "$honest_id:$http_port"
export CARRIER_KEY=$T/honest.key
wait_until 10 online "$dev_id" || fail "device never attached"

"$ATTACK" routes "$T/evil.key" "${NODE_KEY[0]}.pub" "${NODE_ADDR[0]}" "$dev_id" $FLOOD_S \
	>"$T/attack.out" 2>"$T/attack.err" &
ATTACK_PID=$!
PIDS+=("$ATTACK_PID")
capped() { [ "$(refused device_routes)" -gt 0 ]; }
wait_until 30 capped ||
	fail "no connect refused by the device cap: routes $(routes), $(cat "$T/attack.err")"
ok "flood under way: $(routes) routes, $(refused offer_rate) refused by rate, $(refused device_routes) by the device cap"

# The honest vendor, during the flood.
lport=$(free_port)
"$CARRIER" connect "$dev_id" "$http_port" -L "127.0.0.1:$lport" --relay >>"$T/connect.log" 2>&1 &
CONNECT_PID=$!
PIDS+=("$CONNECT_PID")
wait_until 15 curl -sf -o "$T/got.html" "http://127.0.0.1:$lport/index.html" ||
	fail "the honest vendor could not connect during the flood: $(tail -5 "$T/connect.log")"
cmp -s "$T/got.html" "$T/www/index.html" || fail "wrong content through the tunnel"
kill -0 "$ATTACK_PID" 2>/dev/null || fail "the flood ended before the honest connect: $(cat "$T/attack.out")"
ok "the honest vendor connected through the relay during the flood"

wait "$ATTACK_PID" || fail "attack: $(cat "$T/attack.err")"
read -r _ _ sent _ granted _ limited _ other < <(cat "$T/attack.out")
r=$(routes)
[ "$sent" -gt 1000 ] || fail "only $sent requests sent"
[ "$r" -le "$CAP" ] || fail "$r routes after $sent requests (cap $CAP)"
# The device cap, the connect-rate burst (25) and 5 a second for the
# flood, the honest connects, and what the honest vendor's evictions
# let the flood take back.
[ "$granted" -le $((CAP + 25 + 5 * (FLOOD_S + 5))) ] || fail "$granted of $sent requests granted"
[ "$limited" -ge $((sent - granted - 64)) ] || fail "only $limited of $sent requests refused with LIMIT"
dropped=$(metric 0 carrier_node_offer_candidates_dropped_total)
[ "$dropped" -ge $((granted * 8)) ] || fail "only $dropped candidates dropped for $granted offers"
ok "$sent requests: $granted granted, $limited refused, $r routes held, $dropped candidates not passed on"

# After the flood: the honest vendor connects again.
kill "$CONNECT_PID"; wait "$CONNECT_PID" 2>/dev/null || true
lport=$(free_port)
"$CARRIER" connect "$dev_id" "$http_port" -L "127.0.0.1:$lport" --relay >>"$T/connect2.log" 2>&1 &
CONNECT_PID=$!
PIDS+=("$CONNECT_PID")
wait_until 15 curl -sf -o /dev/null "http://127.0.0.1:$lport/index.html" ||
	fail "the honest vendor could not connect after the flood: $(tail -5 "$T/connect2.log")"
ok "the honest vendor connected again after the flood"
kill "$CONNECT_PID"; wait "$CONNECT_PID" 2>/dev/null || true

# Idle routes all go in one sweep (every 5 s), not 256 at a time.
no_routes() { [ "$(routes)" -eq 0 ]; }
wait_until 20 no_routes || fail "$(routes) routes left after route-idle"
ok "every idle route freed: $(metric 0 carrier_node_routes_expired_total) expired"
echo "PASS"
