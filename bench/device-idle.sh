#!/usr/bin/env bash
# bench/device-idle.sh: what an idle device agent costs a battery and a
# flash chip (issue 16): wake-ups per idle minute (the agent's voluntary
# context switches: each is a sleep in epoll_wait that a timer or a packet
# ended) and bytes written to the block device per idle hour (write_bytes
# of /proc/PID/io, scaled from the run), on loopback, with a one-node ring.
#
#   bench/device-idle.sh        # KORHAL_BUILD=/path/to/build to pick a build
#
# The agent runs with its defaults (--keepalive 15s, --presence-ttl 10m,
# --health-interval 5m; BENCH_KEEPALIVE and BENCH_TTL change the first
# two: a short TTL puts republishes inside a short run), no apps.  After it attached and BENCH_SETTLE
# seconds (10) passed, the counters are read over BENCH_SECONDS (120).
# The data folder is on the disk under /var/tmp (not a tmpfs, where
# write_bytes stays 0).  Writes bench/results/device-idle.txt (with the
# machine); the agent is the host build (x86_64, native): wake-ups do not
# depend on the architecture, and qemu-user would add its own.
#
# BENCH_APPS=1 measures the agent with --trust and one app running
# instead (a busybox httpd in a Bolter container, probed over HTTP; needs
# root and nginx, as tests/integration/apps_lib.sh): its wake-ups, and its
# resident memory per mapping (/proc/PID/smaps), with every process the
# agent keeps alive besides the app (its children that are not the
# container); results to bench/results/device-idle-apps.txt.
#
# Environment: KORHAL_BUILD (default <repo>/build), BENCH_SECONDS (120),
# BENCH_SETTLE (10), BENCH_KEEPALIVE (15s), BENCH_TTL (10m), BENCH_APPS
# (0), BENCH_FLAGS (more flags for the agent, e.g. "--serve-port 7070"
# with BENCH_APPS=1: its serve worker is a process it keeps alive),
# BENCH_AGENT (the agent to measure, default the build's
# carrier-agent: a static korhal-device linked or named carrier-agent
# measures the device binary), BENCH_RESULTS (bench/results).
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KORHAL_BUILD:-$root/build}
SECS=${BENCH_SECONDS:-120}
SETTLE=${BENCH_SETTLE:-10}
KA=${BENCH_KEEPALIVE:-15s}
TTL=${BENCH_TTL:-10m}
RESULTS=${BENCH_RESULTS:-$root/bench/results}
APPS=${BENCH_APPS:-0}
export ARCHON=$build/device-agent/archon/archon BOLTER=$build/device-agent/bolter/bolter \
	DEVSIM=$build/tests/integration/devsim
export CARRIER_NODE=$build/ring-node/carrier-node CARRIER_AGENT=${BENCH_AGENT:-$build/device-agent/carrier-agent} \
	CARRIER=$build/cli/carrier KORHAL_SRC=$root
for b in "$CARRIER_NODE" "$CARRIER_AGENT" "$CARRIER"; do
	[ -x "$b" ] || { echo "bench/device-idle.sh: $b is not built" >&2; exit 1; }
done
. "$root/tests/integration/lib.sh"
D=$(mktemp -d /var/tmp/korhal-idle.XXXXXX)
trap 'rm -rf "$D"; cleanup' EXIT
if [ "$APPS" = 1 ]; then
	. "$root/tests/integration/apps_lib.sh"
	trap 'apps_cleanup; rm -rf "$D"' EXIT
fi

# counters PID: voluntary, involuntary context switches (all threads) and
# write_bytes.
counters() {
	local v=0 n=0 f a b
	for f in /proc/"$1"/task/*/status; do
		a=$(sed -n 's/^voluntary_ctxt_switches:\s*//p' "$f")
		b=$(sed -n 's/^nonvoluntary_ctxt_switches:\s*//p' "$f")
		v=$((v + a)) n=$((n + b))
	done
	echo "$v $n $(sed -n 's/^write_bytes: //p' /proc/"$1"/io)"
}

# smaps_table PID: resident kB per mapping (a file's by its permissions:
# r-xp its code, r--p its read-only data, rw-p its data; anonymous ones by
# their kind), largest first, and the total.
smaps_table() {
	awk '/^[0-9a-f]+-[0-9a-f]+ /{n=$6; if (n=="") n="[anon]"; sub(/.*\//,"",n);
			if (n !~ /^\[/) n=n" "$2; next}
		/^Rss:/{r[n]+=$2; t+=$2}
		END{for (k in r) if (r[k] > 0) printf "%8d kB  %s\n", r[k], k; printf "%8d kB  total\n", t}' \
		/proc/"$1"/smaps | sort -rn
}
# pss PID: its proportional share of resident memory (pages shared with
# another process count half), kB.
pss() { sed -n 's/^Pss:\s*\([0-9]*\).*/\1kB/p' /proc/"$1"/smaps_rollup; }
# helpers PID: the agent's child processes (the caller leaves out the
# app containers), with their RSS and voluntary context switches.
helpers() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c $(sed -n 's/^VmRSS:\s*//p' /proc/"$c"/status | tr -d ' ')/$(pss "$c")" \
			"$(counters "$c" | cut -d' ' -f1)"
	done
}

make_ring 1
start_node 0
vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key
if [ "$APPS" = 1 ]; then
	DEV=$D/dev.d
	chmod 711 "$D"
	make_versions 1
	start_origin "$T/origin"
	make_trust
	dev_id=$(device dev)
	"$CARRIER_AGENT" --key "$T/dev.key" --ring "$T/ring" --data "$DEV" --trust "$T/trust" \
		--apps-cgroup "$APPS_CG" --keepalive "$KA" --presence-ttl "$TTL" ${BENCH_FLAGS:-} >>"$T/dev.log" 2>&1 &
	agent=$!
	# shellcheck disable=SC2034 # apps_cleanup (apps_lib.sh) kills it
	AGENT_PID=$agent
	PIDS+=("$agent")
	wait_until 20 test -S "$DEV/control.sock" || fail "the agent's control socket did not appear"
	wait_until 20 online "$dev_id" || fail "the device did not come online"
	release 1 1 "$T/r1"
	agent_ctl install "$T/r1" --health-window 2s >"$T/out" 2>"$T/err" ||
		fail "install v1: $(cat "$T/err")"
	[ "$(serving)" = "web v1" ] || fail "v1 does not serve"
else
	dev_id=$(device dev)
	"$CARRIER_AGENT" --key "$T/dev.key" --ring "$T/ring" --data "$D/dev.d" --keepalive "$KA" \
		--presence-ttl "$TTL" >>"$T/dev.log" 2>&1 &
	agent=$!
	PIDS+=("$agent")
	wait_until 20 online "$dev_id" || fail "the device did not come online"
fi
sleep "$SETTLE"
read -r v0 n0 w0 < <(counters "$agent")
helpers "$agent" >"$T/helpers0"
# VmRSS every 5 s: between two idle passes the loop maps again the pages
# it uses (the agent unmaps its code when it goes idle), so one reading
# depends on its moment; the largest is reported.
rss_max=0
t_end=$((SECONDS + SECS))
while [ $SECONDS -lt $t_end ]; do
	sleep $((t_end - SECONDS < 5 ? t_end - SECONDS : 5))
	r=$(sed -n 's/^VmRSS:\s*\([0-9]*\).*/\1/p' /proc/"$agent"/status)
	[ "$r" -le "$rss_max" ] || rss_max=$r
done
read -r v1 n1 w1 < <(counters "$agent")
online "$dev_id" || fail "the device went offline during the run"
rss=$(sed -n 's/^VmRSS:\s*//p' /proc/"$agent"/status)

wake=$(echo "scale=1; ($v1 - $v0) * 60 / $SECS" | bc)
invol=$(echo "scale=1; ($n1 - $n0) * 60 / $SECS" | bc)
wph=$(((w1 - w0) * 3600 / SECS))
mkdir -p "$RESULTS"
out=$RESULTS/device-idle.txt
what="no apps"
if [ "$APPS" = 1 ]; then
	out=$RESULTS/device-idle-apps.txt
	what="--trust, one app running (busybox httpd, HTTP probe)"
	[ "$(serving)" = "web v1" ] || fail "the app stopped serving during the run"
fi
{
	echo "# bench/device-idle.sh: an idle carrier-agent ($what), one-node ring on loopback"
	echo
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD || echo ' (+ local changes)')"
	echo "machine: $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
	echo "agent: $CARRIER_AGENT --keepalive $KA --presence-ttl $TTL (a republish every TTL/2; health every 5 min)"
	echo "measured over $SECS s after $SETTLE s idle"
	echo
	echo "wake-ups per idle minute (voluntary context switches): $wake"
	echo "involuntary context switches per minute: $invol"
	echo "bytes written to the block device per idle hour (write_bytes, scaled): $wph"
	echo "resident memory (VmRSS): $rss at the end, at most $rss_max kB (read every 5 s)"
	echo
	echo "proportional share (Pss): $(pss "$agent")"
	echo
	echo "processes the agent keeps alive besides its apps (pid, VmRSS/Pss, wake-ups per idle minute):"
	helpers "$agent" | while read -r c r hv; do
		[ "$APPS" = 1 ] && grep -qs "$APPS_CG" /proc/"$c"/cgroup && continue
		h0=$(awk -v c="$c" '$1 == c {print $3}' "$T/helpers0")
		echo "  $c $r $([ -n "$h0" ] && echo "scale=1; ($hv - $h0) * 60 / $SECS" | bc)"
	done
	echo
	echo "the agent's resident memory per mapping (/proc/PID/smaps, kB):"
	smaps_table "$agent" | head -25
} | tee "$out"
