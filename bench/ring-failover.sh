#!/usr/bin/env bash
# The design's recovery target (issue 17, docs/design/ring-cluster.md
# "Recovery at default settings"): after any half of the ring dies at
# once, every device is reachable again within 5 s, at default settings
# (devices attach to as many nodes as hold their record, 4 of 6, and ping
# each every 30 s; nodes heartbeat
# every 250 ms and call a peer dead after 1 s; home sets are what
# `carrier ring init` makes: a majority of the nodes, 4 of 6), at no more
# idle traffic per device than before.
#
# 1. Failover: runs the cluster scenario of tests/integration/test_cluster.sh
#    (6 nodes, 300 simulated devices, SIGKILL of a random 3 at once, every
#    device pinged end to end through the real CLI) RUNS times for each
#    home-set size in FAILOVER_REPLICAS ("ring": the ring's own, i.e. the
#    default; a number: every node's --replicas), and reports the time
#    until 50 %, 99 % and 100 % of the devices were reached again against
#    the target, and what the home sets cost the nodes before the kill
#    (records held, replicas sent, the 6 nodes' resident memory).  The test
#    asserts only that every device comes back; the figure lives here.
# 2. Idle traffic per device: a 6-node ring at defaults and FAILOVER_IDLE_N
#    (20) simulated devices in each of three settings: the defaults (they
#    follow the ring: --attach 4, the home-set size, --keepalive 30s and
#    --presence-ttl 20m, 7.5 s and 300 s a link; da_config_resolve), the
#    defaults before them (--attach 2 --keepalive 15s --presence-ttl 10m),
#    and --attach 4 --keepalive 30s --presence-ttl 10m (the pings spread
#    over the links, the record refreshes not).  Datagrams and bytes each
#    device sent and received over its hop sessions (its own counters,
#    da_agent_traffic; 28 bytes of IPv4 and UDP header added a datagram)
#    over FAILOVER_IDLE_SECONDS (600: a whole number of record refreshes,
#    every 300 or 600 s, and of health records, every 300 s, fall inside)
#    after 30 s of quiet, per idle minute.
#
#   bench/ring-failover.sh [RUNS]      (default 2 per R; KORHAL_BUILD, default
#                                       ./build; FAILOVER_REPLICAS, default
#                                       "ring 3"; FAILOVER_IDLE_SECONDS,
#                                       default 600, 0 skips part 2;
#                                       FAILOVER_IDLE_NODE_FLAGS, default
#                                       none, flags for part 2's nodes)
#
# Writes bench/results/ring-failover-DATE.txt.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KORHAL_BUILD:-$root/build}
runs=${1:-2}
replicas=${FAILOVER_REPLICAS:-ring 3}
idle_secs=${FAILOVER_IDLE_SECONDS:-600}
idle_n=${FAILOVER_IDLE_N:-20}
for t in ring-node/carrier-node device-agent/carrier-agent cli/carrier tests/integration/devsim; do
	[ -x "$build/$t" ] || { echo "ring-failover: $build/$t missing: build first (cmake --build build)" >&2; exit 1; }
done
out=$root/bench/results/ring-failover-$(date -u +%Y%m%d-%H%M%S).txt
figs=$(mktemp)
trap 'rm -f "$figs"' EXIT
export CARRIER_NODE=$build/ring-node/carrier-node CARRIER_AGENT=$build/device-agent/carrier-agent \
	CARRIER=$build/cli/carrier DEVSIM=$build/tests/integration/devsim KORHAL_SRC=$root
{
	echo "# bench/ring-failover.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD || echo ' (+ local changes)')"
	echo "# machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# target: every device reachable again within 5000 ms of killing half the ring"
	echo "# settings: defaults (agent without --attach, --keepalive, --presence-ttl: 4 links of 6 nodes, 30 s, 20 min; node --heartbeat 250ms --peer-timeout 1s; ring init without --replicas: R = 4 of 6), R as given"
} | tee "$out"
for r in $replicas; do
	: >"$figs"
	if [ "$r" = ring ]; then flags="" label="R=ring's (4)"; else flags="--replicas $r" label="R=$r"; fi
	for i in $(seq 1 "$runs"); do
		CLUSTER_NODE_FLAGS="$flags" KORHAL_BENCH_OUT=$figs bash "$root/tests/integration/test_cluster.sh" >/dev/null 2>&1 ||
			echo "$label run $i: the scenario failed (run tests/integration/test_cluster.sh through ctest to see why)" | tee -a "$out"
	done
	worst=0 worst99=0
	while read -r devices p50 p99 max records sent rss; do
		echo "$label, $devices devices: reachable again, 50 % after $p50 ms, 99 % after $p99 ms, 100 % after $max ms; before the kill the nodes held $records records ($(echo "scale=2; $records / $devices" | bc) a device), had sent $sent replicas ($(echo "scale=2; $sent / $devices" | bc) a device) and used $((rss / 1024)) MB resident together" | tee -a "$out"
		[ "$max" -le "$worst" ] || worst=$max
		[ "$p99" -le "$worst99" ] || worst99=$p99
	done <"$figs"
	if [ "$worst" -le 5000 ] && [ -s "$figs" ]; then verdict="met"; else verdict="not met"; fi
	echo "$label: worst over $(wc -l <"$figs") runs: 99 % after $worst99 ms, 100 % after $worst ms; 5 s target $verdict" | tee -a "$out"
done

[ "$idle_secs" -gt 0 ] || { echo "written to $out"; exit 0; }
# ---- 2. idle traffic per device -----------------------------------------
(
	. "$root/tests/integration/lib.sh"
	NODES=6
	make_ring $NODES
	# FAILOVER_IDLE_NODE_FLAGS: e.g. "--replicas 3", the home sets of
	# rings made before the majority rule (the "before" figure).
	# shellcheck disable=SC2086
	for i in $(seq 0 $((NODES - 1))); do start_node_metrics "$i" ${FAILOVER_IDLE_NODE_FLAGS:-}; done
	settings=("" "--attach 2 --keepalive 15s --presence-ttl 10m" "--attach 4 --keepalive 30s --presence-ttl 10m")
	names=("defaults (--attach 4 --keepalive 30s --presence-ttl 20m)" "--attach 2 --keepalive 15s --presence-ttl 10m (the defaults before)" "--attach 4 --keepalive 30s --presence-ttl 10m")
	links=(4 2 4)
	sims=()
	for g in 0 1 2; do
		mkdir -p "$T/sim$g"
		# shellcheck disable=SC2086
		"$DEVSIM" --ring "$T/ring" --dir "$T/sim$g" -n "$idle_n" ${settings[$g]} >>"$T/devsim$g.log" 2>&1 &
		sims+=("$!")
		PIDS+=("$!")
	done
	all=$(seq 0 $((NODES - 1)))
	wait_until 20 test -n "$(metric 0 carrier_node_replicas)" || fail "node 0 has no metrics"
	R=$(metric 0 carrier_node_replicas)
	# shellcheck disable=SC2086,SC2016
	wait_until 60 eval '[ "$(sum_metric carrier_node_presence_records $all)" -ge $((3 * idle_n * R)) ]' ||
		fail "records not replicated: $(sum_metric carrier_node_presence_records $all)"
	sleep 30
	for g in 0 1 2; do kill -USR1 "${sims[$g]}"; done
	sleep 1
	for g in 0 1 2; do cp "$T/sim$g/traffic.txt" "$T/t0.$g"; done
	sleep "$idle_secs"
	for g in 0 1 2; do kill -USR1 "${sims[$g]}"; done
	sleep 1
	echo "idle traffic per device over $idle_secs s ($idle_n devices a setting, 6-node ring, home sets of $R), per idle minute (bytes with 28 B of IPv4+UDP header a datagram):"
	for g in 0 1 2; do
		# The same devices in the same order: side by side.
		paste -d' ' "$T/t0.$g" "$T/sim$g/traffic.txt" | awk -v s="$idle_secs" -v name="${names[$g]}" '
			{ td += $7 - $2; tb += $8 - $3; rd += $9 - $4; rb += $10 - $5; n++ }
			END { m = s / 60 * n
			      printf "  %s: sent %.1f datagrams %.0f bytes, received %.1f datagrams %.0f bytes; total %.0f bytes a minute\n",
				     name, td / m, (tb + 28 * td) / m, rd / m, (rb + 28 * rd) / m, (tb + rb + 28 * (td + rd)) / m }'
	done
	# shellcheck disable=SC2086
	echo "  nodes: $(sum_metric carrier_node_devices_attached $all) device sessions on the 6 nodes for $((3 * idle_n)) devices ($idle_n with ${links[0]} links, $idle_n with ${links[1]}, $idle_n with ${links[2]})"
) 2>&1 | grep -v '^ok:' | tee -a "$out"
echo "written to $out"
