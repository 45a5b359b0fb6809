#!/usr/bin/env bash
# After an epoch change devices move to their new home nodes gradually, not
# all at once: 3 nodes hold 100 devices (2 sessions each, pings every
# 500 ms, --migrate-window 6s); a fourth node joins (epoch 2), and about
# half the devices rank it among their first two.  The new node's count of
# attached devices, sampled every 250 ms, must climb over seconds (uniform
# moments within the window put 10 % and 90 % of the moves about 4.8 s
# apart; all at once would put them within one sample or two).
. "$(dirname "$0")/lib.sh"
: "${DEVSIM:?run through ctest}"

DEVICES=100
WINDOW_MS=6000
NODE_FLAGS="--heartbeat 100ms --peer-timeout 500ms"
make_ring 3
for i in 0 1 2; do start_node_metrics "$i" $NODE_FLAGS; done
"$DEVSIM" --ring "$T/ring" --dir "$T/sim" -n $DEVICES --keepalive 500ms \
	--attach 2 --migrate-window "${WINDOW_MS}ms" >>"$T/devsim.log" 2>&1 &
PIDS+=("$!")
attached() { [ "$(sum_metric carrier_node_devices_attached 0 1 2)" -ge $((DEVICES * 2)) ]; }
wait_until 60 attached || fail "devices not attached: $(sum_metric carrier_node_devices_attached 0 1 2) sessions"
ok "$DEVICES devices attached to 2 of 3 nodes each"

add_node 3
start_node_metrics 3 $NODE_FLAGS
t0=$(date +%s%N)
# samples: "MS COUNT" lines, until the count has not changed for 3 s
: >"$T/samples"
last=-1 since=0
while :; do
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	n=$(metric 3 carrier_node_devices_attached || true)
	n=${n:-0}
	echo "$ms $n" >>"$T/samples"
	if [ "$n" != "$last" ]; then last=$n since=$ms; fi
	[ "$n" -gt 0 ] && [ $((ms - since)) -ge 3000 ] && break
	[ "$ms" -lt 30000 ] || fail "the new node's count never settled: $(tail -3 "$T/samples" | tr '\n' ' ')"
	sleep 0.25
done
final=$last
[ "$final" -ge $((DEVICES / 4)) ] || fail "only $final devices moved to the new node"
at() { awk -v want="$1" '$2 >= want { print $1; exit }' "$T/samples"; }
t10=$(at $(( (final + 9) / 10 )))
t90=$(at $(( (final * 9 + 9) / 10 )))
spread=$((t90 - t10))
echo "moves to the new node: $final devices; 10 % by ${t10} ms, 90 % by ${t90} ms after it started"
[ "$spread" -ge 2000 ] || fail "devices moved at once: 10 % to 90 % in $spread ms (window ${WINDOW_MS} ms)"
ok "$final devices moved to the new node over $spread ms (10 % to 90 %), with a ${WINDOW_MS} ms window"
echo "PASS"
