#!/usr/bin/env bash
# bench/ring-idle.sh: issue 17 item 4's second half, "one node holding
# 1,000,000 idle devices within one core of steady CPU".  One carrier-node
# (a ring of one) holds N idle devices (200,000 by default: what this
# machine can simulate); its CPU is measured over IDLE_S seconds of
# steady state, and the cost per device extrapolated to 1,000,000.
#
#   bench/ring-idle.sh                 # N = 200000, 300 s
#   IDLE_N=50000 IDLE_S=60 bench/ring-idle.sh
#
# The devices: bench/ringfail (IDLE_SIMS processes, default 2) with
# carrier-agent's idle traffic at its defaults: a Ping every 15 s that the
# node answers with a Pong (its keepalive), the presence record made again
# every 5 minutes (half its 10-minute lifetime), sessions rekeyed by need
# (an idle link's keys live 3600 s, docs/design/ring-cluster.md).  The
# window (IDLE_S, 300 s: one republish period) holds every device's
# keepalives and one republish each, measured.  No rekey falls due within
# it: their cost, N / 3600 handshakes a second, is added from what the node
# spent per device while the devices attached (a handshake, a ping and a
# publish: an upper bound).  Not simulated: the agent's health record (one
# FleetPut every 5 minutes, a signed message as the republish is).
# The node's data is in /dev/shm (its CPU, not the disk, is measured).
# Writes bench/results/ring-idle-<N/1000>k-DATE.txt.
#
# Environment: KORHAL_BUILD, IDLE_N (200000), IDLE_S (300), IDLE_SIMS (2),
# IDLE_SETTLE (30 s after the attach), IDLE_NICE (10), BENCH_RESULTS,
# KORHAL_KEEP=1.
set -euo pipefail
RING_NAME=ring-idle
# shellcheck source=bench/ring_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ring_lib.sh"

N=${IDLE_N:-200000}
IDLE_S=${IDLE_S:-300}
SIMS=${IDLE_SIMS:-2}
SETTLE=${IDLE_SETTLE:-30}
NICE=${IDLE_NICE:-10}
RESULTS=${BENCH_RESULTS:-$root/bench/results}

ring_need_ringfail
ring_tmp korhal-ringidle data
trap 'ring_cleanup KILL' EXIT
trap 'exit 130' INT TERM

# now_ms, status_kb, cpu_ms: bench/ring_lib.sh.
metric() {
	curl -sf "http://127.0.0.1:$mport/metrics" | awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'
}
pct() { python3 -c "import sys; print(f'{float(sys.argv[1]):.{int(sys.argv[2])}f}')" "$1" "${2:-2}"; }

C=$build/cli/carrier
"$C" keygen --type operator -o "$T/op.key" >/dev/null
"$C" keygen --type node -o "$T/node.key" >/dev/null
nport=$(free_port)
mport=$(free_port)
"$C" ring init --operator "$T/op.key" --node "$T/node.key.pub@127.0.0.1:$nport" -o "$T/ring" >/dev/null
nice -n "$NICE" "$build/ring-node/carrier-node" --key "$T/node.key" --ring "$T/ring" \
	--listen "127.0.0.1:$nport" --data "$DATA" --metrics "127.0.0.1:$mport" \
	--log-level warn >"$T/node.log" 2>&1 &
node=$!
PIDS+=("$node")
wait_until 20 curl -sf "http://127.0.0.1:$mport/metrics" -o /dev/null || die "node did not start: $(tail -3 "$T/node.log")"

per=$(( (N + SIMS - 1) / SIMS ))
left=$N
c_attach0=$(cpu_ms "$node")
t0=$(now_ms)
for s in $(seq 0 $((SIMS - 1))); do
	n=$(( left < per ? left : per ))
	left=$((left - n))
	nice -n "$NICE" "$build/bench/ringfail" --ring "$T/ring" -n "$n" --attach 1 \
		--sockets 16 --addr-base $((16 + s)) >"$T/sim$s.out" 2>"$T/sim$s.err" &
	PIDS+=("$!")
done
attached() { for s in $(seq 0 $((SIMS - 1))); do grep -q "phase=attached" "$T/sim$s.out" || return 1; done; }
wait_until $((N / 50 + 600)) attached ||
	die "the devices did not attach: $(tail -qn 2 "$T"/sim*.out "$T"/sim*.err)"
t_attach=$(( $(now_ms) - t0 ))
c_attach=$(( $(cpu_ms "$node") - c_attach0 ))
hs_attach=$(metric carrier_node_handshakes_total)
pub_attach=$(metric carrier_node_publishes_total)
log "$N devices attached after $t_attach ms (node CPU $c_attach ms); settling ${SETTLE} s"
sleep "$SETTLE"
hs0=$(metric carrier_node_handshakes_total)
pub0=$(metric carrier_node_publishes_total)
c0=$(cpu_ms "$node")
t0=$(now_ms)
sleep "$IDLE_S"
c1=$(cpu_ms "$node")
t1=$(now_ms)
hs1=$(metric carrier_node_handshakes_total)
pub1=$(metric carrier_node_publishes_total)
att=$(metric carrier_node_devices_attached)
sess=$(metric carrier_node_sessions)
rss=$(status_kb "$node" VmRSS)
hwm=$(status_kb "$node" VmHWM)

idle_ms=$((c1 - c0))
wall=$((t1 - t0))
idle_pct=$(pct "$(python3 -c "print($idle_ms * 100 / $wall)")")
# The attach phase: a handshake and a publish (with its ping) per device.
per_dev_attach_ms=$(python3 -c "print($c_attach / $N)")
per_dev_us=$(python3 -c "print($idle_ms * 1000 / $wall / $N * 1000)")
m=1000000
steady_1m=$(python3 -c "print($idle_ms * 100 / $wall * $m / $N)")
# Rekeys by need (keys live 3600 s), costed at the attach phase's
# handshake + ping + publish per device (an upper bound).
periodic_1m=$(python3 -c "print($m / 3600 * $per_dev_attach_ms / 1000 * 100)")
total_1m=$(python3 -c "print($steady_1m + $periodic_1m)")
verdict=$(python3 -c "print('within one core' if $total_1m <= 100 else 'NOT within one core')")
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
machine="$(nproc) cores ($cpu_model), $(( $(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) / 1024 / 1024 )) GiB, Linux $(uname -r)"
mkdir -p "$RESULTS"
out=$RESULTS/ring-idle-$((N / 1000))k-$(date -u +%Y%m%d-%H%M%S).txt
{
	echo "bench/ring-idle: one carrier-node holding $N idle devices (carrier-agent's defaults: ping every 15 s, record every 5 min, rekey by need)"
	echo "machine: $machine; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (shared; at nice $NICE)"
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $SIMS bench/ringfail processes"
	echo
	echo "attach: $N devices in $t_attach ms, node CPU $c_attach ms ($(pct "$per_dev_attach_ms" 3) ms a device: handshake, ping, publish); $hs_attach handshakes, $pub_attach publishes"
	echo "steady state over $wall ms: node CPU $idle_ms ms = $idle_pct % of one core ($(pct "$per_dev_us" 3) us per device per second); $((hs1 - hs0)) handshakes (rekeys), $((pub1 - pub0)) publishes in the window; $att devices attached, $sess sessions at its end"
	echo "node memory: RSS $((rss / 1024)) MiB, peak $((hwm / 1024)) MiB"
	echo
	echo "per 1,000,000 idle devices (extrapolated from $N):"
	echo "  pings + republishes (measured):               $(pct "$steady_1m" 1) % of one core ($((pub1 - pub0)) publishes in the window for $N devices)"
	echo "  rekeys by need (computed):                    $(pct "$periodic_1m" 1) % ($((m / 3600)) handshakes/s at <= $(pct "$per_dev_attach_ms" 3) ms each)"
	echo "  total:                                        $(pct "$total_1m" 1) % of one core: $verdict"
} | tee "$out"
log "written to $out"
