#!/usr/bin/env bash
# Fleet rollout at scale (issue 14's bench; docs/fleet.md "Rollouts"): a
# 3-node loopback ring, N simulated devices (tests/tools/fleetsim.c: own
# keys, sessions and signed reports), one `carrier deploy` of a release to
# all of them (one wave, health window 1 s).  Reports:
#   - the time from publishing the deployment until every device was
#     notified (pushed, not polled), and until the rollout completed;
#   - report traffic per device (UDP payload bytes of its report datagrams)
#     and push traffic per device;
#   - node memory per deployment and per report (RSS growth of the nodes,
#     and growth of their LMDB files);
#   - how long `carrier status --json` takes for N devices.
# Peer figures (research/fleet.md): Mender polls every 30 min, balena 15,
# hawkBit 5; Mender's compose rollback waits 120 s.  Not a test: nothing
# here is asserted.
#
#   bench/rollout.sh [N]     (default 10000; KORHAL_BUILD, default ./build)
#
# Writes bench/results/rollout-DATE.txt.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KORHAL_BUILD:-$root/build}
n=${1:-10000}
for t in ring-node/carrier-node device-agent/carrier-agent cli/carrier \
	tests/integration/fleetsim device-agent/archon/archon; do
	[ -x "$build/$t" ] || { echo "rollout: $build/$t missing: build first" >&2; exit 1; }
done
export CARRIER_NODE=$build/ring-node/carrier-node CARRIER_AGENT=$build/device-agent/carrier-agent
export CARRIER=$build/cli/carrier FLEETSIM=$build/tests/integration/fleetsim
export ARCHON=$build/device-agent/archon/archon KORHAL_SRC=$root
out=$root/bench/results/rollout-$(date -u +%Y%m%d-%H%M%S).txt
. "$root/tests/integration/lib.sh"
. "$root/tests/integration/rollout_lib.sh"
SIM_N=$n
# Every simulated device comes from 127.0.0.1: lift the nodes' budget of
# new devices per source address (2000 an hour).
NODE_FLAGS="--presence-new-per-addr 0"
ms() { date +%s%3N; }
rss_kb() { # the nodes' resident memory, KiB
	local s=0 p
	for p in "${NODE_PID[@]}"; do s=$((s + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status"))); done
	echo "$s"
}
mdb_bytes() { du -cb "$T"/node*.d/*.mdb | tail -1 | cut -f1; }

rollout_setup
start_sim sim
t_att=$(ms)
wait_until 900 all_attached "$n" || fail "the $n simulated devices did not attach"
t_att=$(($(ms) - t_att))
sleep 2
rss0=$(rss_kb); mdb0=$(mdb_bytes)
t0=$(ms)
"$CARRIER" deploy "$T/web-2.0.release" --to tag:site=lab --waves 100 --health-window 1s \
	--timeout 900s >"$T/deploy.out" 2>&1 || fail "deploy: $(tail -3 "$T/deploy.out")"
t_done=$(($(ms) - t0))
kill -USR1 "$SIM_PID"; sleep 1
notified=$(wc -l <"$T/sim/notified.txt")
t_notify=$(($(sort -k2 -n "$T/sim/notified.txt" | tail -1 | cut -d' ' -f2) - t0))
p50_notify=$(($(sort -k2 -n "$T/sim/notified.txt" | awk -v h=$((notified / 2)) 'NR == h {print $2}') - t0))
rss1=$(rss_kb); mdb1=$(mdb_bytes)
read -r _ _ _ reports _ report_bytes _ push_bytes <"$T/sim/traffic.txt"
dep_bytes=$(wc -c <"$(ls "$XDG_CONFIG_HOME"/carrier/deployments/*/web/*.deployment | head -1)")
t1=$(ms)
lines=$("$CARRIER" status web --json | wc -l)
t_status=$(($(ms) - t1))
{
	echo "# bench/rollout.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "# machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "devices: $n simulated (one process), 3 nodes on loopback; attached in $t_att ms"
	echo "notified: $notified of $n devices; p50 $p50_notify ms, all $t_notify ms after the deployment was published (pushed; peers poll every 5-30 min)"
	echo "rollout complete (health window 1 s, one wave): $t_done ms"
	echo "reports: $reports ($((reports / n)) a device), $((report_bytes / n)) bytes a device on the wire (UDP payload)"
	echo "pushes: $((push_bytes / n)) bytes a device received (the deployment's pieces)"
	echo "deployment file (base64 text): $dep_bytes bytes"
	echo "node memory: RSS of the 3 nodes +$((rss1 - rss0)) KiB for 1 deployment and $((reports > 0 ? n : 0)) reports kept (each node keeps every report: home set of 3): $(((rss1 - rss0) * 1024 / (3 * n))) bytes per report per node"
	echo "node LMDB files: +$((mdb1 - mdb0)) bytes, $(((mdb1 - mdb0) / (3 * n))) bytes per report per node"
	echo "carrier status --json of $lines devices: $t_status ms"
} | tee "$out"
echo "written to $out"
