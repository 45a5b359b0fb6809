#!/usr/bin/env bash
# A handshake flood from one address does not starve the others: a node
# that demands cookies (--handshake-load 0, as under any flood) gets the
# replays of one cookie-bearing INIT from 127.0.0.5 at 20,000 a second for
# 20 s (without a per-address limit each costs two DH); meanwhile a real
# device agent on 127.0.0.1 attaches while the flood still runs (no
# wall-clock bound: on a slow machine the flood is slower too).  The node takes at most
# --handshake-per-addr (20) a second from the flooding address and counts
# the rest as drops{reason="ratelimit"}.
. "$(dirname "$0")/lib.sh"
: "${HSFLOOD:?run through ctest}"

FLOOD_S=20
make_ring 1
METRICS[0]=127.0.0.1:$(free_port)
start_node 0 --metrics "${METRICS[0]}" --handshake-load 0 --handshake-per-addr 20
drops() { metric 0 "carrier_node_drops_total{reason=\"$1\"}"; }
wait_until 10 curl -sf "http://${METRICS[0]}/metrics" >/dev/null || fail "node did not start"

"$HSFLOOD" "${NODE_KEY[0]}.pub" "${NODE_ADDR[0]}" 127.0.0.5 20000 $FLOOD_S \
	>"$T/hsflood.out" 2>"$T/hsflood.err" &
FLOOD_PID=$!
PIDS+=("$!")
flooding() { [ "$(drops ratelimit)" -gt 1000 ]; }
wait_until 15 flooding || fail "no flood seen: $(cat "$T/hsflood.err") ratelimit drops: $(drops ratelimit)"
ok "flood under way: $(drops ratelimit) INITs from 127.0.0.5 dropped"

vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key
dev_id=$(device dev)
t0=$(date +%s%N)
start_agent dev --keepalive 1s
attached_or_over() { online "$dev_id" || ! kill -0 "$FLOOD_PID" 2>/dev/null; }
wait_until $((FLOOD_S + 10)) attached_or_over
online "$dev_id" || fail "the device did not attach during the flood"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -0 "$FLOOD_PID" 2>/dev/null || fail "the flood ended before the device attached"
ok "a device on 127.0.0.1 attached in $ms ms during the flood"

wait "$FLOOD_PID" || fail "hsflood: $(cat "$T/hsflood.err")"
sent=$(sed -n 's/^hsflood: replayed //p' "$T/hsflood.out")
limited=$(drops ratelimit) stamped=$(drops timestamp)
# Replays that got a token reach the DH and are refused by timestamp:
# 20 saved up plus 20 a second, over the flood and the handshake before it.
max=$(( 20 + 20 * (FLOOD_S + 12) ))
[ "${stamped:-0}" -le "$max" ] || fail "$stamped replays reached the DH (at most $max)"
[ "$limited" -gt $(( sent / 2 )) ] || fail "only $limited of $sent replays were limited"
ok "$sent replays sent, $limited dropped by the limiter, $stamped reached the DH"
echo "PASS"
