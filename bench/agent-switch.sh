#!/usr/bin/env bash
# bench/agent-switch.sh: the agent's app switches (docs/agent-apps.md), on
# loopback: a busybox web app, a new version per switch (each differs from
# the last by one file), published to nginx; a one-node ring; the device
# agent with --trust.  Every second switch's version fails its probe.
#
#   bench/agent-switch.sh            # KORHAL_BUILD=/path/to/build to pick a build
#
# Reports, over BENCH_SWITCHES switches (default 50) with a health window
# of BENCH_WINDOW seconds (default 5):
#   available->serving   from `install` of a healthy release to the new
#                        version answering (pull, stage, stop the old one,
#                        start, and the probe loop; the commit comes after
#                        the window)
#   failed->old serving  from the agent logging the failed health window to
#                        the old version answering again
#   bytes per switch     what the origin (nginx) served for the switch
#   idle RSS             the agent's resident memory, idle, with three apps
# Prints a table with the machine (lscpu model) and writes
# bench/results/agent-switch.txt.  Needs root (containers) and nginx.
#
# Environment: KORHAL_BUILD (default <repo>/build), BENCH_SWITCHES (50),
# BENCH_WINDOW (5), BENCH_RESULTS (default bench/results).
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KORHAL_BUILD:-$root/build}
SWITCHES=${BENCH_SWITCHES:-50}
WIN=${BENCH_WINDOW:-5}
RESULTS=${BENCH_RESULTS:-$root/bench/results}
export CARRIER_NODE=$build/ring-node/carrier-node CARRIER_AGENT=$build/device-agent/carrier-agent \
	CARRIER=$build/cli/carrier ARCHON=$build/device-agent/archon/archon \
	BOLTER=$build/device-agent/bolter/bolter DEVSIM=$build/tests/integration/devsim \
	KORHAL_SRC=$root
for b in "$CARRIER_NODE" "$CARRIER_AGENT" "$CARRIER" "$ARCHON" "$BOLTER" "$(dirname "$DEVSIM")/mkrelease"; do
	[ -x "$b" ] || { echo "bench/agent-switch.sh: $b is not built" >&2; exit 1; }
done
. "$root/tests/integration/lib.sh"
. "$root/tests/integration/apps_lib.sh"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# log_ms PATTERN: the wall-clock ms of the last agent log line matching.
log_ms() {
	local ts
	ts=$(grep "$1" "$T/dev.log" | tail -n 1 | cut -c1-23)
	[ -n "$ts" ] || { echo 0; return; }
	echo $(($(date -d "${ts/T/ } UTC" +%s%N) / 1000000))
}
wait_serving() { # wait_serving TEXT: polls every 20 ms, up to 120 s
	local end=$(($(now_ms) + 120000))
	while [ "$(now_ms)" -lt "$end" ]; do
		[ "$(curl -sf --max-time 1 "http://127.0.0.1:$APP_PORT/index.html" || true)" = "$1" ] && return 0
		sleep 0.02
	done
	return 1
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}'; }
p90() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int(NR*0.9+0.999)]; else print "-"}'; }

echo "bench/agent-switch.sh: $SWITCHES switches, health window ${WIN}s; building $((SWITCHES + 1)) versions"
apps_setup $((SWITCHES + 1))
release 1 1 "$T/r"
agent_ctl install "$T/r" --health-window "${WIN}s" >/dev/null || fail "first install"
cur=1
up=() down=() bytes=()
for i in $(seq 2 $((SWITCHES + 1))); do
	: >"$ORIGIN_LOG"
	if [ $((i % 2)) = 1 ]; then
		release "$i" "$i" "$T/r" "http:$APP_PORT/missing"
		agent_ctl install "$T/r" --health-window "${WIN}s" >/dev/null 2>&1 || true
		failed=$(log_ms "web $i failed: health")
		wait_serving "web v$cur" || fail "v$cur does not serve after v$i failed"
		down+=($(($(now_ms) - failed)))
	else
		release "$i" "$i" "$T/r"
		t0=$(now_ms)
		agent_ctl install "$T/r" --health-window "${WIN}s" --no-wait >/dev/null
		wait_serving "web v$i" || fail "v$i never served"
		up+=($(($(now_ms) - t0)))
		wait_until 60 state_is committed || fail "v$i did not commit"
		cur=$i
	fi
	sleep 0.5 # nginx logs after answering
	bytes+=("$(origin_served)")
done

# Idle RSS with three apps: web and two more on other ports.
for n in 2 3; do
	port=$(free_port)
	"$CARRIER" release "web$n:1" --image "$ORIGIN_URL" web:1 --counter 1 --arch "$ARCH" \
		--key "$T/rel1.key" -o "$T/a$n" --health "http:$port/index.html" \
		-- httpd -f -p "127.0.0.1:$port" -h /www >/dev/null
	"$CARRIER" release sign "$T/a$n" --key "$T/rel2.key" >/dev/null
	agent_ctl install "$T/a$n" --health-window 2s >/dev/null || fail "app web$n"
done
sleep 5
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$AGENT_PID/status")

model=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
mkdir -p "$RESULTS"
{
	echo "# bench/agent-switch.sh $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: ${model:-unknown}, $(nproc) CPUs, kernel $(uname -r)"
	echo "switches: $SWITCHES (${#up[@]} healthy, ${#down[@]} failing their probe), health window ${WIN}s"
	printf '%-34s %10s %10s\n' "" median p90
	printf '%-34s %8s ms %8s ms\n' "release available -> new serving" \
		"$(printf '%s\n' "${up[@]}" | median)" "$(printf '%s\n' "${up[@]}" | p90)"
	printf '%-34s %8s ms %8s ms\n' "health failed -> old serving" \
		"$(printf '%s\n' "${down[@]}" | median)" "$(printf '%s\n' "${down[@]}" | p90)"
	printf '%-34s %8s B  %8s B\n' "bytes downloaded per switch" \
		"$(printf '%s\n' "${bytes[@]}" | median)" "$(printf '%s\n' "${bytes[@]}" | p90)"
	echo "bytes per switch (each): ${bytes[*]}"
	echo "agent idle RSS with three apps: ${rss} KiB"
	echo "(both include stopping the other version: SIGKILL at once for busybox httpd,"
	echo " which as pid 1 of its namespace has no SIGTERM handler; an app that"
	echo " catches SIGTERM gets 2 s)"
} | tee "$RESULTS/agent-switch.txt"
