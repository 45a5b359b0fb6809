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
#
#   bench/rollout.sh rollback [N]     (default 300)
#
# `carrier rollback` of N online devices (issue 14: >= 99 % of 300 back on
# the previous version within 30 s, 0 bytes downloaded): N-2 simulated
# devices plus 2 real carrier-agents running a busybox app in containers
# (KORHAL_AGENTS=K for K of them; none when not root or without nginx),
# all at v1, then v2 deployed to all, then `carrier rollback web`.
# Reports the time from the rollback's start until 99 % and 100 % of the
# devices run v1 again (simulated: their own start time; agents: apps
# --json polled) and until 99 % and 100 % reported v1 succeeded after the
# health window (1 s) as `carrier status --json` shows it, and the bytes
# the origin served meanwhile.  Writes bench/results/rollout-rollback-DATE.txt.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KORHAL_BUILD:-$root/build}
mode=deploy
if [ "${1:-}" = rollback ]; then mode=rollback; shift; fi
if [ "$mode" = rollback ]; then n=${1:-300}; else n=${1:-10000}; fi
for t in ring-node/carrier-node device-agent/carrier-agent cli/carrier \
	tests/integration/fleetsim device-agent/archon/archon; do
	[ -x "$build/$t" ] || { echo "rollout: $build/$t missing: build first" >&2; exit 1; }
done
export CARRIER_NODE=$build/ring-node/carrier-node CARRIER_AGENT=$build/device-agent/carrier-agent
export CARRIER=$build/cli/carrier FLEETSIM=$build/tests/integration/fleetsim
export ARCHON=$build/device-agent/archon/archon KORHAL_SRC=$root
if [ "$mode" = rollback ]; then
	out=$root/bench/results/rollout-rollback-$(date -u +%Y%m%d-%H%M%S).txt
else
	out=$root/bench/results/rollout-$(date -u +%Y%m%d-%H%M%S).txt
fi
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

# ---- carrier rollback of n online devices -----------------------------------
bench_rollback() {
	local i v_old v_new r_old r_new sims t0 t
	local run99="" run100="" ok99="" ok100="" pct99
	# Globals: the EXIT trap reads them.
	agents=${KORHAL_AGENTS:-2} apids=()
	if [ "$(id -u)" != 0 ] || ! command -v nginx >/dev/null; then agents=0; fi
	if [ "$agents" -gt 0 ]; then
		export DEVSIM=$build/tests/integration/devsim BOLTER=$build/device-agent/bolter/bolter
		. "$root/tests/integration/apps_lib.sh"
		bench_agents_cleanup() {
			local rc=$? d id p
			set +e
			for p in "${apids[@]}"; do kill -KILL "$p" 2>/dev/null; done
			for i in $(seq 0 $((agents - 1))); do
				d=$T/a$i.d
				for id in $("$BOLTER" --root "$d/bolter" list -q 2>/dev/null); do
					"$BOLTER" --root "$d/bolter" delete --force "$id" >/dev/null 2>&1
				done
			done
			(exit "$rc")
			apps_cleanup
		}
		trap bench_agents_cleanup EXIT
		make_versions 2
		start_origin "$T/origin"
		make_trust
		export CARRIER_KEY=$T/root.key CARRIER_TRUST=$T/trust
		make_ring 3
		# shellcheck disable=SC2086 # NODE_FLAGS are words
		for i in 0 1 2; do start_node "$i" $NODE_FLAGS; done
		for v in 1 2; do
			"$CARRIER" release "web:$v" --image "$ORIGIN_URL" "web:$v" --counter "$v" \
				--arch "$ARCH" --key "$T/rel1.key" -o "$T/r$v" \
				--health "exec:test -f /www/index.html" \
				-- sh -c 'while :; do sleep 1; done' >/dev/null
			"$CARRIER" release sign "$T/r$v" --key "$T/rel2.key" >/dev/null
		done
		v_old=1 v_new=2 r_old=$T/r1 r_new=$T/r2
		for i in $(seq 0 $((agents - 1))); do
			device "a$i" >/dev/null
			"$CARRIER_AGENT" --key "$T/a$i.key" --ring "$T/ring" --data "$T/a$i.d" \
				--trust "$T/trust" --tag site=lab --apps-cgroup "$APPS_CG-$i" \
				--keepalive 1s >>"$T/a$i.log" 2>&1 &
			apids+=("$!")
			PIDS+=("$!")
		done
	else
		agents=0
		rollout_setup
		v_old=1.0 v_new=2.0 r_old=$T/web-1.0.release r_new=$T/web-2.0.release
	fi
	sims=$((n - agents))
	SIM_N=$sims
	start_sim sim --version "$v_old"
	wait_until 300 all_attached "$n" || fail "the $n devices did not attach"
	sleep 2
	for r in "$r_old" "$r_new"; do
		"$CARRIER" deploy "$r" --to tag:site=lab --waves 100 --max-failures 0 \
			--health-window 1s --timeout 300s >"$T/deploy.out" 2>&1 ||
			fail "deploy $r: $(tail -3 "$T/deploy.out")"
	done
	[ "$agents" = 0 ] || : >"$ORIGIN_LOG"
	pct99=$(((99 * n + 99) / 100))
	t0=$(ms)
	# Each line of the rollback's progress (verified reports, as the
	# vendor counts them) with the time it came.
	"$CARRIER" rollback web --timeout 300s 2>&1 |
		while IFS= read -r l; do echo "$(($(ms) - t0)) $l"; done >"$T/rollback.out" &
	local rb=$!
	PIDS+=("$rb")
	while :; do
		# Running v1 again: simulated devices' own start times, agents polled.
		local running
		running=$(awk -v v="$v_old" -v t0="$t0" '$2 == v && $4 >= t0' "$T/sim/ran.txt" | wc -l)
		for i in $(seq 0 $((agents - 1))); do
			"$CARRIER_AGENT" --data "$T/a$i.d" apps --json 2>/dev/null |
				grep -Eq "\"running\": ?\"$v_old\"" && running=$((running + 1))
		done
		t=$(($(ms) - t0)) # when the polls ended: an upper bound
		[ -n "$run99" ] || [ "$running" -lt "$pct99" ] || run99=$t
		[ -n "$run100" ] || [ "$running" -lt "$n" ] || run100=$t
		{ [ -n "$run100" ] && ! kill -0 "$rb" 2>/dev/null; } && break
		[ "$t" -lt 300000 ] || break
		sleep 0.1
	done
	# Reported succeeded: the rollback's own count of verified reports.
	ok99=$(awk -v k="$pct99" '{for (i = 1; i < NF; i++) if ($(i+1) == "succeeded," && $i + 0 >= k) {print $1; exit}}' "$T/rollback.out")
	ok100=$(awk -v k="$n" '{for (i = 1; i < NF; i++) if ($(i+1) == "succeeded," && $i + 0 >= k) {print $1; exit}}' "$T/rollback.out")
	wait "$rb" 2>/dev/null || true
	# The simulated devices' times are their own, the rest is polled:
	# their first start of v1 after t0 gives the exact running figures.
	local sim99 sim100
	sim99=$(awk -v v="$v_old" -v t0="$t0" '$2 == v && $4 >= t0 {print $4 - t0}' "$T/sim/ran.txt" |
		sort -n | awk -v k=$((pct99 > sims ? sims : pct99)) 'NR == k')
	sim100=$(awk -v v="$v_old" -v t0="$t0" '$2 == v && $4 >= t0 {print $4 - t0}' "$T/sim/ran.txt" |
		sort -n | tail -1)
	{
		echo "# bench/rollout.sh rollback, $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "# machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "devices: $n online: $sims simulated (one process) + $agents real carrier-agents with busybox containers; 3 nodes on loopback"
		echo "before: all at $v_old, then $v_new deployed to all (health window 1 s); then: carrier rollback web"
		echo "running $v_old again (agents polled every ~0.1 s): 99 % ($pct99) after ${run99:-never} ms, 100 % after ${run100:-never} ms"
		echo "  simulated devices' own start times: 99 % after ${sim99:-never} ms, all $sims after ${sim100:-never} ms"
		echo "reported $v_old succeeded (after the 1 s health window; verified reports as carrier rollback counts them): 99 % after ${ok99:-never} ms, 100 % after ${ok100:-never} ms"
		if [ "$agents" -gt 0 ]; then
			echo "bytes the origin served during the rollback: $(origin_served) (requests: $(wc -l <"$ORIGIN_LOG"))"
		else
			echo "bytes downloaded: none possible (simulated devices pull nothing; run as root with nginx for real agents)"
		fi
		echo "carrier rollback said: $(grep -m1 "rollback of" "$T/rollback.out" | cut -d' ' -f2-) ... $(tail -1 "$T/rollback.out" | cut -d' ' -f2-)"
		echo "target (issue 14): >= 99 % of 300 online devices within 30 s, 0 bytes: $([ -n "$ok99" ] && [ "$ok99" -le 30000 ] && echo met || echo not met) (reported succeeded), $([ -n "$run99" ] && [ "$run99" -le 30000 ] && echo met || echo not met) (running)"
	} | tee "$out"
	echo "written to $out"
}
if [ "$mode" = rollback ]; then
	bench_rollback
	exit 0
fi

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
