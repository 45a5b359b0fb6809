#!/usr/bin/env bash
# bench/ring-failover-scale.sh: issue 17 item 4, the failover of
# bench/ring-failover.sh at scale.  A 6-node loopback ring at default
# settings holds N simulated devices (100,000 by default); SIGKILL a random
# half of it (3 nodes) at once; measure how the 3 survivors absorb the
# reconnect storm.
#
#   bench/ring-failover-scale.sh             # N = 100000
#   FAILOVER_N=20000 bench/ring-failover-scale.sh
#
# The devices: bench/ringfail (built with the project), FAILOVER_SIMS
# processes (default 4) of N / FAILOVER_SIMS devices.  Each device is its
# own identity doing real Noise IK handshakes from its own source endpoint
# (127.B.x.y, B = 16, 17, ... per process; 16 devices share an address,
# each on its own port) and follows carrier-agent's home-link rules at its
# defaults: attach to 4 nodes (its home set on a 6-node ring; 2 before),
# ping every 30 s (15 s at 2 links), act on nudges, give up a
# silent node, fail over along the ranking (see bench/ringfail.c).  A real
# carrier-agent per device would be one process and one socket each: 100,000
# of them do not fit a machine (a process may hold 20,000 files here).
#
# Measured after the kill (the simulators are told when, and which nodes):
#   reachable: the device holds a session with a live node that
#     acknowledged its record (a record naming that node, stored by a
#     majority of the live home set): a vendor's lookup through any
#     survivor finds it online there.  A device that kept one of its two
#     nodes is reachable at once (0 ms).  The simulators' own confirmation,
#     not a vendor probe per device; FAILOVER_SAMPLE devices (every
#     1,000th) are also looked up by the real CLI once the run settled
#     (`carrier lookup --json`: online, through a live attached node);
#   re-homed: all of the device's links are on live nodes again with its
#     newest record acknowledged (devices that kept one node replace the
#     dead one after their next keepalive: up to 30 s + 3 s; as many
#     links as there are live nodes when K is more);
#   the time until 50 %, 99 % and 100 % of the devices got there;
#   handshakes per second of the survivors during the storm (peak 1 s and
#     mean), cookies sent and every drop counter of their Prometheus
#     metrics (carrier_node_drops_total by reason), nudges;
#   peak memory (VmHWM) of each node and of each simulator, and the nodes'
#     CPU time during the storm.
# Everything runs under nice (FAILOVER_NICE, default 10): the machine is
# shared.  On a machine busy with other work the nodes of a starved ring
# miss each other's heartbeats (a peer is dead after 1 s) and take live
# peers for dead: FAILOVER_STORM_NICE renices the ring and the devices
# for the minute or two after the kill only (root may go below 0, as
# tests/integration/test_cluster.sh does), so the figures are the ring's
# rather than the neighbours'.  Node data lives in /dev/shm (LMDB commits with fdatasync on a
# shared disk stall a node's loop; this measures CPU and memory, not disk).
# Writes bench/results/ring-failover-<N/1000>k-DATE.txt.
#
# Environment: KORHAL_BUILD (default <repo>/build), FAILOVER_N (100000),
# FAILOVER_STORM_NICE (default FAILOVER_NICE),
# FAILOVER_SIMS (4), FAILOVER_WAIT (seconds after the kill, 90),
# FAILOVER_SETTLE (seconds idle before the kill, 20), FAILOVER_ATTACH (home
# links per device: the agent's default on a 6-node ring, its 4 home
# nodes), FAILOVER_KEEPALIVE (the devices' keepalive in ms: the agent's
# for that many links, 30000 for 4, 15000 for 2), FAILOVER_NODE_FLAGS
# (extra carrier-node flags), FAILOVER_NICE (10), BENCH_RESULTS,
# KORHAL_KEEP=1 keeps the temporary directory.
set -euo pipefail
RING_NAME=ring-failover-scale
# shellcheck source=bench/ring_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ring_lib.sh"

N=${FAILOVER_N:-100000}
SIMS=${FAILOVER_SIMS:-4}
WAIT=${FAILOVER_WAIT:-90}
SETTLE=${FAILOVER_SETTLE:-20}
ATTACH=${FAILOVER_ATTACH:-4}
KEEPALIVE=${FAILOVER_KEEPALIVE:-$(( ATTACH * 7500 < 15000 ? 15000 : ATTACH * 7500 > 30000 ? 30000 : ATTACH * 7500 ))}
NICE=${FAILOVER_NICE:-10}
STORM_NICE=${FAILOVER_STORM_NICE:-$NICE}
RESULTS=${BENCH_RESULTS:-$root/bench/results}
NODES=6
KILL=3
# shellcheck disable=SC2206
NODE_FLAGS=(${FAILOVER_NODE_FLAGS:-})

ring_need_ringfail
ring_tmp korhal-failscale data
trap 'ring_cleanup KILL' EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"

# ---- helpers -------------------------------------------------------------
# now_ms, cpu_ms: bench/ring_lib.sh.  status_kb here says 0 for a process
# gone (a killed node).
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
metric() { # metric NODE NAME: one node's value (0 when absent)
	curl -sf "http://${METRICS[$1]}/metrics" 2>/dev/null |
		awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }'
}
sum_metric() { # sum_metric NAME NODE...
	local k=$1 s=0 i; shift
	for i in "$@"; do s=$((s + $(metric "$i" "$k"))); done
	echo "$s"
}
drops() { # drops NODE...: "reason count" summed over the nodes
	local i
	for i in "$@"; do
		curl -sf "http://${METRICS[$i]}/metrics" 2>/dev/null |
			sed -n 's/^carrier_node_drops_total{reason="\([a-z_]*\)"} \([0-9]*\)$/\1 \2/p'
	done | awk '{ s[$1] += $2 } END { for (k in s) print k, s[k] }' | sort
}
# pct FILE COLUMN P: the P-th percentile of a column of ms (-1: never),
# "-" when some device never got there within the run.
pct() {
	awk -v c="$2" '{ print $c }' "$1" | sort -n | awk -v p="$3" '
		{ v[NR] = $1; if ($1 < 0) never++ }
		END {
			i = int((NR * p + 99) / 100); if (i < 1) i = 1
			# the never-reached sort first: shift past them
			if (never > 0 && NR - never < i) { print "-"; exit }
			print v[i + never]
		}'
}

# ---- the ring ------------------------------------------------------------
C=$build/cli/carrier
"$C" keygen --type operator -o "$T/op.key" >/dev/null
"$C" keygen --type vendor -o "$T/ven.key" >/dev/null
args=()
for i in $(seq 0 $((NODES - 1))); do
	ADDR[i]=127.0.0.1:$(free_port)
	METRICS[i]=127.0.0.1:$(free_port)
	"$C" keygen --type node -o "$T/node$i.key" >/dev/null
	args+=(--node "$T/node$i.key.pub@${ADDR[$i]}")
done
"$C" ring init --operator "$T/op.key" "${args[@]}" -o "$T/ring" >/dev/null
for i in $(seq 0 $((NODES - 1))); do
	nice -n "$NICE" "$build/ring-node/carrier-node" --key "$T/node$i.key" --ring "$T/ring" \
		--listen "${ADDR[$i]}" --data "$DATA/node$i" --metrics "${METRICS[$i]}" \
		--log-level warn "${NODE_FLAGS[@]}" >"$T/node$i.log" 2>&1 &
	NODE_PID[i]=$!
	PIDS+=("$!")
done
for i in $(seq 0 $((NODES - 1))); do
	wait_until 20 curl -sf "http://${METRICS[$i]}/metrics" -o /dev/null ||
		die "node $i did not start: $(tail -3 "$T/node$i.log")"
done
all_alive() { for i in $(seq 0 $((NODES - 1))); do [ "$(metric "$i" carrier_node_peers_alive)" = $NODES ] || return 1; done; }
wait_until 30 all_alive || die "the nodes do not see each other"
log "ring of $NODES nodes up; $N devices in $SIMS simulators"

# ---- the devices ---------------------------------------------------------
per=$(( (N + SIMS - 1) / SIMS ))
left=$N
t_attach0=$(now_ms)
for s in $(seq 0 $((SIMS - 1))); do
	n=$(( left < per ? left : per ))
	left=$((left - n))
	nice -n "$NICE" "$build/bench/ringfail" --ring "$T/ring" -n "$n" --addr-base $((16 + s)) \
		--attach "$ATTACH" --keepalive "$KEEPALIVE" \
		--mark "$T/mark" --times "$T/times.$s" --sample-ids "$T/sample.$s" \
		>"$T/sim$s.out" 2>"$T/sim$s.err" &
	SIM_PID[s]=$!
	PIDS+=("$!")
done
attached() { for s in $(seq 0 $((SIMS - 1))); do grep -q "phase=attached" "$T/sim$s.out" || return 1; done; }
wait_until $((N / 50 + 600)) attached ||
	die "the devices did not attach: $(tail -qn 2 "$T"/sim*.out "$T"/sim*.err)"
t_attach=$(( $(now_ms) - t_attach0 ))
log "all $N devices attached to $ATTACH nodes each after $t_attach ms; idle for ${SETTLE} s"
sleep "$SETTLE"
all=$(seq 0 $((NODES - 1)))
# shellcheck disable=SC2086
records=$(sum_metric carrier_node_presence_records $all)
# shellcheck disable=SC2086
attached_n=$(sum_metric carrier_node_devices_attached $all)
for i in $all; do HWM0[i]=$(status_kb "${NODE_PID[$i]}" VmHWM); RSS0[i]=$(status_kb "${NODE_PID[$i]}" VmRSS); done

# ---- the kill ------------------------------------------------------------
if [ "$STORM_NICE" != "$NICE" ]; then
	renice -n "$STORM_NICE" -p "${NODE_PID[@]}" "${SIM_PID[@]}" $$ >/dev/null 2>&1 ||
		log "cannot renice to $STORM_NICE: the storm runs at nice $NICE"
fi
# shellcheck disable=SC2086
mapfile -t victims < <(shuf -n "$KILL" -e $all)
survivors=$(for i in $all; do [[ " ${victims[*]} " == *" $i "* ]] || echo "$i"; done | tr '\n' ' ')
spids=()
for i in $survivors; do
	HS0[i]=$(metric "$i" carrier_node_handshakes_total)
	CK0[i]=$(metric "$i" carrier_node_cookies_sent_total)
	NU0[i]=$(metric "$i" carrier_node_nudges_sent_total)
	PD0[i]=$(metric "$i" carrier_node_peer_deaths_total)
	PT0[i]=$(metric "$i" carrier_node_publishes_timed_out_total)
	PU0[i]=$(metric "$i" carrier_node_publishes_unchanged_total)
	TS0[i]=$(metric "$i" carrier_node_tick_stalls_total)
	RR0[i]=$(metric "$i" carrier_node_replicas_received_total)
	SY0[i]=$(metric "$i" carrier_node_sync_records_total)
	spids+=("${NODE_PID[$i]}")
done
# shellcheck disable=SC2086
drops0=$(drops $survivors)
cpu0=$(cpu_ms "${spids[@]}")
load_kill=$(cut -d' ' -f1-3 /proc/loadavg)
kill_ms=$(now_ms)
for v in "${victims[@]}"; do kill -KILL "${NODE_PID[$v]}"; done
echo "$kill_ms $(for v in "${victims[@]}"; do printf '%s ' "${ADDR[$v]}"; done)" >"$T/mark"
kill -USR1 "${SIM_PID[@]}"
log "killed nodes ${victims[*]} (of $NODES) at once; survivors: $survivors"

# Once a second: the survivors' handshakes and the simulators' progress.
: >"$T/storm"
prev_hs=0
# shellcheck disable=SC2086
prev_hs=$(sum_metric carrier_node_handshakes_total $survivors)
peak_hs=0 done_ms=""
while [ $(( $(now_ms) - kill_ms )) -lt $((WAIT * 1000)) ]; do
	sleep 1
	# shellcheck disable=SC2086
	hs=$(sum_metric carrier_node_handshakes_total $survivors)
	reach=0 rehomed=0
	for s in $(seq 0 $((SIMS - 1))); do
		line=$(grep 't_ms=' "$T/sim$s.out" | tail -1)
		reach=$((reach + $(sed -n 's/.* reachable=\([0-9]*\).*/\1/p' <<<"$line")))
		rehomed=$((rehomed + $(sed -n 's/.* rehomed=\([0-9]*\).*/\1/p' <<<"$line")))
	done
	t=$(( $(now_ms) - kill_ms ))
	echo "$t $((hs - prev_hs)) $reach $rehomed" >>"$T/storm"
	[ $((hs - prev_hs)) -le "$peak_hs" ] || peak_hs=$((hs - prev_hs))
	prev_hs=$hs
	if [ "$rehomed" -ge "$N" ]; then done_ms=$t; break; fi
done
cpu1=$(cpu_ms "${spids[@]}")
storm_s=$(( ($(now_ms) - kill_ms + 999) / 1000 ))
[ "$STORM_NICE" = "$NICE" ] || renice -n "$NICE" -p "${spids[@]}" "${SIM_PID[@]}" $$ >/dev/null 2>&1 || true
for s in $(seq 0 $((SIMS - 1))); do rm -f "$T/times.$s"; done
kill -USR2 "${SIM_PID[@]}"
timesok() { for s in $(seq 0 $((SIMS - 1))); do [ -s "$T/times.$s" ] || return 1; done; }
wait_until 180 timesok || die "the simulators wrote no recovery times"
cat "$T"/times.* >"$T/times"

# The real CLI's view of every 1,000th device (through the survivors).
sample_total=0 sample_ok=0 sample_online=0
cat "$T"/sample.* >"$T/sample"
while read -r id _; do
	sample_total=$((sample_total + 1))
	j=$(nice -n "$NICE" "$C" lookup "$id" --json --key "$T/ven.key" --ring "$T/ring" 2>/dev/null) || continue
	# The record found names a surviving node as attached.  ("online"
	# is narrower: one of the device's home nodes by the full ring holds
	# its session; after a failover it may be attached elsewhere.)
	for i in $survivors; do
		if grep -q "\"address\":\"${ADDR[$i]}\"" <<<"$j"; then sample_ok=$((sample_ok + 1)); break; fi
	done
	grep -q '"online":true' <<<"$j" && sample_online=$((sample_online + 1))
done <"$T/sample"

# ---- figures -------------------------------------------------------------
# Datagrams the kernel dropped at a node's socket (its receive queue full):
# the drops column of /proc/net/udp for the node's port.
sock_drops() {
	local port
	port=$(printf '%04X' "${ADDR[$1]##*:}")
	awk -v p=":$port" 'NR > 1 && substr($2, length($2) - 4) == p { print $NF; exit }' /proc/net/udp
}
kdrops=""
for i in $survivors; do kdrops="$kdrops${kdrops:+, }node $i $(sock_drops "$i")"; done
for i in $survivors; do HWM1[i]=$(status_kb "${NODE_PID[$i]}" VmHWM); done
hs_total=0 ck_total=0 nu_total=0 pd_total=0 pt_total=0 rr_total=0 sy_total=0 pu_total=0 ts_total=0 ts_max=0
for i in $survivors; do
	v=$(metric "$i" carrier_node_handshakes_total); hs_total=$((hs_total + v - HS0[i]))
	v=$(metric "$i" carrier_node_cookies_sent_total); ck_total=$((ck_total + v - CK0[i]))
	v=$(metric "$i" carrier_node_nudges_sent_total); nu_total=$((nu_total + v - NU0[i]))
	v=$(metric "$i" carrier_node_peer_deaths_total); pd_total=$((pd_total + v - PD0[i]))
	v=$(metric "$i" carrier_node_publishes_timed_out_total); pt_total=$((pt_total + v - PT0[i]))
	v=$(metric "$i" carrier_node_replicas_received_total); rr_total=$((rr_total + v - RR0[i]))
	v=$(metric "$i" carrier_node_sync_records_total); sy_total=$((sy_total + v - SY0[i]))
	v=$(metric "$i" carrier_node_publishes_unchanged_total); pu_total=$((pu_total + v - PU0[i]))
	v=$(metric "$i" carrier_node_tick_stalls_total); ts_total=$((ts_total + v - TS0[i]))
	v=$(metric "$i" carrier_node_tick_stall_max_ms); [ "$v" -le "$ts_max" ] || ts_max=$v
done
# shellcheck disable=SC2086
drops1=$(drops $survivors)
drop_delta=$(join -a 2 -e 0 -o 0,1.2,2.2 <(echo "$drops0") <(echo "$drops1") |
	awk '$3 - $2 > 0 { printf "%s%s %d", sep, $1, $3 - $2; sep = ", " }')
r50=$(pct "$T/times" 1 50) r99=$(pct "$T/times" 1 99) r100=$(pct "$T/times" 1 100)
h50=$(pct "$T/times" 2 50) h99=$(pct "$T/times" 2 99) h100=$(pct "$T/times" 2 100)
reach_n=$(awk '$1 >= 0' "$T/times" | wc -l)
rehome_n=$(awk '$2 >= 0' "$T/times" | wc -l)
lost_both=$(awk '$1 > 0' "$T/times" | wc -l)
at_once=$(awk '$1 == 0' "$T/times" | wc -l)
storm_cpu=$((cpu1 - cpu0))
hs_mean=$(( hs_total * 1000 / ( ${done_ms:-$((storm_s * 1000))} > 0 ? ${done_ms:-$((storm_s * 1000))} : 1 ) ))
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
machine="$(nproc) cores ($cpu_model), $(( $(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) / 1024 / 1024 )) GiB, Linux $(uname -r)"
mkdir -p "$RESULTS"
out=$RESULTS/ring-failover-$((N / 1000))k-$(date -u +%Y%m%d-%H%M%S).txt
mb() { echo "$(( ($1 + 512) / 1024 )) MiB"; }
{
	echo "bench/ring-failover-scale: $N devices on a $NODES-node loopback ring, $KILL nodes SIGKILLed at once"
	echo "machine: $machine; load average at the kill: $load_kill, at the end: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine; everything at nice $NICE, the storm at nice $STORM_NICE)"
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); settings: node defaults${FAILOVER_NODE_FLAGS:+ + $FAILOVER_NODE_FLAGS} (cookies above 2000 handshakes/s, 20/s per address under load), devices as carrier-agent's rules (attach $ATTACH, keepalive $((KEEPALIVE / 1000)) s)"
	echo "devices: $SIMS bench/ringfail processes, 16 devices per loopback address (own ports), $(( (N + 15) / 16 )) addresses"
	echo
	echo "attach: all $N devices on $ATTACH nodes each after $t_attach ms (paced: 64 handshakes in flight per simulator); then $attached_n sessions, $records presence records on the ring"
	echo "killed nodes ${victims[*]}; survivors $survivors"
	echo
	echo "after the kill                          50 %      99 %     100 %   devices"
	printf '%-34s %9s %9s %9s %9s\n' "reachable again (ms)" "$r50" "$r99" "$r100" "$reach_n/$N"
	printf '%-34s %9s %9s %9s %9s\n' "re-homed: $ATTACH live links* (ms)" "$h50" "$h99" "$h100" "$rehome_n/$N"
	[ "$ATTACH" -le $((NODES - KILL)) ] || echo "  * or as many as live nodes: $((NODES - KILL))"
	echo "  $at_once devices kept a live node (reachable at once), $lost_both lost both and came back; $( [ "$reach_n" -eq "$N" ] && echo "all reachable" || echo "$((N - reach_n)) NOT reachable within ${WAIT} s")"
	echo "  vendor check: carrier lookup --json of every 1,000th device after the run: $sample_ok of $sample_total found, their record naming a surviving node as attached ($sample_online online by a home node's session)"
	echo
	echo "storm (survivors, kill until every device re-homed${done_ms:+ at $done_ms ms} or ${WAIT} s):"
	echo "  handshakes: $hs_total, peak $peak_hs in 1 s, mean $hs_mean/s; the survivors' CPU: $storm_cpu ms over ${storm_s} s"
	echo "  cookies sent: $ck_total; nudges sent: $nu_total"
	echo "  peer deaths seen by the survivors: $pd_total (3 each for the kill: $((KILL * (NODES - KILL))); more is a live peer taken for dead); publishes timed out (no majority): $pt_total"
	echo "  the survivors' loop: $ts_total ticks more than 500 ms late, the longest gap $ts_max ms (node lifetime); device resends of a stored record taken without a second signature check: $pu_total"
	echo "  records: $sy_total re-replicated by the survivors' sync, $rr_total replicas received (each a signature check unless byte for byte the record stored)"
	echo "  drops (carrier_node_drops_total, delta): ${drop_delta:-none}"
	echo "  datagrams the kernel dropped at the survivors' sockets, receive queue full (whole run): $kdrops"
	echo "  per second (t_ms handshakes reachable rehomed):"
	awk '{ printf "    %6d %6d %7d %7d\n", $1, $2, $3, $4 }' "$T/storm"
	echo
	echo "peak memory (VmHWM):"
	for i in $all; do
		if [[ " ${victims[*]} " == *" $i "* ]]; then
			echo "  node $i (killed): $(mb "${HWM0[$i]}") before the kill (RSS $(mb "${RSS0[$i]}"))"
		else
			echo "  node $i: $(mb "${HWM0[$i]}") before the kill, $(mb "${HWM1[$i]}") after the storm (RSS $(mb "$(status_kb "${NODE_PID[$i]}" VmRSS)"))"
		fi
	done
	for s in $(seq 0 $((SIMS - 1))); do
		echo "  simulator $s ($(sed -n 's/.*keys=\([0-9]*\).*/\1/p' "$T/sim$s.out") devices): $(mb "$(status_kb "${SIM_PID[$s]}" VmHWM)")"
	done
} | tee "$out"
log "written to $out"
