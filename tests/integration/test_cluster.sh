#!/usr/bin/env bash
# The ring as a cluster: 6 nodes, 300 simulated devices.  SIGKILL 3 nodes
# at once (a random half): every device answers an end-to-end ping through
# the real CLI path again (p50, p99 and max time to reach printed; the
# design's 5 s target is measured by bench/ring-failover.sh, which runs this
# script, since a test must not fail because the machine is busy).  Restart them:
# records are re-replicated to them, and no acknowledged record is lost
# (every device's newest record, at least the sequence its home nodes
# acknowledged, is held by a majority of its home set).
. "$(dirname "$0")/lib.sh"
: "${DEVSIM:?run through ctest}"

NODES=6 DEVICES=300
# Under AddressSanitizer one process running 300 devices is several times
# slower than a device: 100 devices there, the same assertions.
if grep -q __asan_init "$DEVSIM" 2>/dev/null; then DEVICES=100; fi
# Default settings everywhere: nodes heartbeat every 250 ms and call a
# peer dead after 1 s; devices hold links to the 4 nodes of their home set
# (the ring's, a majority) and ping each every 30 s.  Whichever half dies,
# a device keeps a live link and is reached through it at once.  With
# fewer links (CLUSTER_DEVICE_FLAGS="--attach 2"), one whose nodes all
# died is nudged by a surviving node that holds its record (CP_MSG_NUDGE,
# docs/design/ring-cluster.md "Recovery") and moves within about a second.
# CLUSTER_NODE_FLAGS / CLUSTER_DEVICE_FLAGS add flags (bench/ring-failover.sh).
# shellcheck disable=SC2206
NODE_FLAGS=(${CLUSTER_NODE_FLAGS:-})
# shellcheck disable=SC2206
DEVICE_FLAGS=(${CLUSTER_DEVICE_FLAGS:-})
# The time to reach is a property of the ring, not of whatever else a shared
# test machine runs: the ring, the devices and the CLI run at a higher
# priority (we are root here; elsewhere renice fails and nothing changes).
boost() { renice -n -10 -p "$@" >/dev/null 2>&1 || true; }
make_ring $NODES
for i in $(seq 0 $((NODES - 1))); do
	start_node_metrics "$i" "${NODE_FLAGS[@]}"
	boost "${NODE_PID[$i]}"
done
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key

# The 300 simulated devices share one process and one event loop, so one
# device's fsync (its presence sequence in LMDB, at every publish) would
# stall all of them: their state lives in memory (/dev/shm), as if each had
# its own disk.
SIM=$(mktemp -d /dev/shm/korhal-sim.XXXXXX 2>/dev/null) || SIM=$T/sim
trap 'rc=$?; set +e; [ "$SIM" = "$T/sim" ] || rm -rf "$SIM"; (exit $rc); cleanup' EXIT
ln -s "$SIM" "$T/sim" 2>/dev/null || true
"$DEVSIM" --ring "$T/ring" --dir "$SIM" -n $DEVICES "${DEVICE_FLAGS[@]}" \
	--allow "$ven_id:9" >>"$T/devsim.log" 2>&1 &
SIM_PID=$!
PIDS+=("$!")
boost "$SIM_PID"
all_nodes=$(seq 0 $((NODES - 1)))
# Each record on its home nodes (3 at least: 4 of 6 by default) once
# every device published.
replicated() {
	# shellcheck disable=SC2086
	[ "$(sum_metric carrier_node_presence_records $all_nodes)" -ge $((DEVICES * 3)) ]
}
wait_until 60 replicated || fail "records not replicated: $(sum_metric carrier_node_presence_records $all_nodes)"
ok "$DEVICES devices published; $(sum_metric carrier_node_presence_records $all_nodes) records on $NODES nodes"

# batch_ping SINCE_MS WITHIN: the devices split over 60 CLI processes at
# once, each pinging its share with `carrier ping --batch`; prints the
# p50/p99/max time to reach over all devices and checks every one answered.
# (60 processes of 5 devices: one process reaches its devices one after
# the other, about 20 ms each here, which would otherwise add to the times.)
batch_ping() {
	local since=$1 within=$2 pids=() rc=0
	rm -f "$T"/part.* "$T"/out.*
	split -n l/60 -d -a 2 "$T/sim/ids.txt" "$T/part."
	for f in "$T"/part.*; do
		nice -n -10 "$CARRIER" ping --batch "$f" --within "$within" --since "$since" \
			>"$T/out.${f##*.}" 2>>"$T/ping.log" &
		pids+=("$!")
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	cat "$T"/out.* | sed -n 's/.* reached after \(-\{0,1\}[0-9]*\) ms.*/\1/p' | sort -n >"$T/times"
	local n p50 p99 max
	n=$(wc -l <"$T/times")
	p50=$(sed -n "$(( (n + 1) / 2 ))p" "$T/times")
	p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$T/times")
	max=$(tail -n 1 "$T/times")
	echo "reached $n of $DEVICES; time to reach p50 ${p50:-?} ms, p99 ${p99:-?} ms, max ${max:-?} ms"
	[ "$rc" -eq 0 ] && [ "$n" -eq $DEVICES ] || { grep -h unreachable "$T"/out.* | head -5; return 1; }
	echo "$max" >"$T/last_max"
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

out=$(batch_ping "$(now_ms)" 30s) || fail "before the kill: $out"
ok "every device answers before the kill: $out"

# What the home sets cost the nodes (bench/ring-failover.sh's figures):
# records held, replicas sent so far (each publish goes to R-1 others),
# the nodes' resident memory.
# shellcheck disable=SC2086
cost="$(sum_metric carrier_node_presence_records $all_nodes) $(sum_metric carrier_node_replicas_sent_total $all_nodes) $(for i in $all_nodes; do sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' /proc/"${NODE_PID[$i]}"/status; done | awk '{s += $1} END {print s + 0}')"

# SIGKILL a random half of the ring at once.
mapfile -t victims < <(shuf -n 3 -e $all_nodes)
kill_ms=$(now_ms)
for v in "${victims[@]}"; do kill -KILL "${NODE_PID[$v]}"; done
survivors=$(for i in $all_nodes; do [[ " ${victims[*]} " == *" $i "* ]] || echo "$i"; done)
out=$(batch_ping "$kill_ms" 60s) || fail "after killing nodes ${victims[*]}: $out"
echo "RESULT killed nodes ${victims[*]} of $NODES at once: $out"
max=$(cat "$T/last_max")
[ -z "${KORHAL_BENCH_OUT:-}" ] || echo "$DEVICES $(sed -n 's/.*p50 \([0-9?]*\) ms, p99 \([0-9?]*\) ms, max \([0-9?]*\) ms.*/\1 \2 \3/p' <<<"$out") $cost" >>"$KORHAL_BENCH_OUT"
ok "every device reachable again, the last after $max ms"
# With 2 links some devices (about 1 in 5) lost both attached nodes; the
# surviving holders of their records nudged them.  With the default 4 no
# device loses all of them (counted only).
# shellcheck disable=SC2086
nudges=$(sum_metric carrier_node_nudges_sent_total $survivors)
case " ${DEVICE_FLAGS[*]} " in
*" --attach "[12]" "*)
	[ "${nudges:-0}" -gt 0 ] || fail "no surviving node nudged a device whose attached nodes all died" ;;
esac
ok "${nudges:-0} nudges sent by the surviving nodes"

# What the devices' home nodes acknowledged, then the devices stop so that
# the records stay as they are.
sleep 2
kill -USR1 "$SIM_PID"
wait_until 10 test -s "$T/sim/acked.txt" || fail "devsim wrote no acked.txt"
kill -KILL "$SIM_PID"
awk '$2 == 0' "$T/sim/acked.txt" | head -3 | grep -q . && fail "devices without an acknowledged record: $(awk '$2 == 0' "$T/sim/acked.txt" | head -3)"
# shellcheck disable=SC2086
before=$(sum_metric carrier_node_sync_records_total $survivors)
for v in "${victims[@]}"; do start_node "$v" --metrics "${METRICS[$v]}" "${NODE_FLAGS[@]}"; boost "${NODE_PID[$v]}"; done
all_alive() { for i in $all_nodes; do [ "$(metric "$i" carrier_node_peers_alive)" = $NODES ] || return 1; done; }
wait_until 15 all_alive || fail "restarted nodes not seen alive"
settled() { # every device's newest record on >= 2 of its home nodes (3 or 4)
	local bad=0 id seq j got holders
	while read -r id seq; do
		j=$("$CARRIER" lookup "$id" --json 2>/dev/null) || { bad=$((bad + 1)); continue; }
		got=$(json_field "$j" seq)
		holders=$(json_field "$j" holders)
		[ "${got:-0}" -ge "$seq" ] && [ "${holders:-0}" -ge 2 ] || bad=$((bad + 1))
	done <"$T/sim/acked.txt"
	echo "$bad" >"$T/bad"
	[ "$bad" -eq 0 ]
}
wait_until 30 settled || fail "$(cat "$T/bad") devices lost an acknowledged record or have it on fewer than 2 home nodes"
# shellcheck disable=SC2086
after=$(sum_metric carrier_node_sync_records_total $survivors)
[ "$after" -gt "$before" ] || fail "no re-replication counted ($before -> $after)"
for v in "${victims[@]}"; do
	[ "$(metric "$v" carrier_node_presence_records)" -gt 0 ] || fail "restarted node $v holds no records"
done
ok "restarted nodes ${victims[*]}: $((after - before)) records re-replicated; every acknowledged record kept, on >= 2 home nodes"
echo "PASS"
