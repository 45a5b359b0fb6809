#!/usr/bin/env bash
# Runtime-spec fields bolter once refused or ignored, each checked where
# the kernel shows it: process.ioPriority (ionice -p), process.scheduler
# (chrt -p, /proc/PID/stat), process.execCPUAffinity (Cpus_allowed_list of
# an exec'd process), and the cgroup limits of linux.resources (memory
# swappiness and disableOOMKiller, cpu realtime bandwidth, blockIO,
# network, rdma) read back from the container's cgroup files.  A limit the
# host cannot hold must fail create with the field named, never pass
# silently; a controller this host lacks is skipped with the reason.
. "$(dirname "$0")/../bolter/lib.sh"

pid_of() { "${BO[@]}" state "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])'; }

# start NAME: runs the bundle detached.
start() { (cd "$T/$1" && "${BO[@]}" run --detach "$1"); }

# refused NAME FIELD: create fails, naming FIELD, and leaves no container.
refused() {
	if (cd "$T/$1" && "${BO[@]}" run --detach "$1") 2>"$T/$1.err"; then
		"${BO[@]}" delete --force "$1"
		fail "$1: accepted; want an error naming $2"
	fi
	grep -qF "$2" "$T/$1.err" || fail "$1: error does not name $2: $(cat "$T/$1.err")"
	if "${BO[@]}" state "$1" >/dev/null 2>&1; then fail "$1: a refused create left the container"; fi
	ok "$1: refused naming $2 ($(head -c 160 "$T/$1.err"))"
}

# --- process.ioPriority -----------------------------------------------------
bundle io sleep 30
edit io 's["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_RT", "priority": 3}'
start io
expect_eq "ioPriority IOPRIO_CLASS_RT 3" "$(ionice -p "$(pid_of io)")" "realtime: prio 3"
"${BO[@]}" delete --force io
bundle io2 sleep 30
edit io2 's["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}'
start io2
expect_eq "ioPriority IOPRIO_CLASS_IDLE" "$(ionice -p "$(pid_of io2)")" "idle"
# exec'd processes take their own (exec --process)
printf '{"args": ["sleep", "30"], "cwd": "/", "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 6}}' >"$T/io.json"
"${BO[@]}" exec --detach --pid-file "$T/io.pid" --process "$T/io.json" io2
expect_eq "exec: ioPriority IOPRIO_CLASS_BE 6" "$(ionice -p "$(cat "$T/io.pid")")" "best-effort: prio 6"
"${BO[@]}" delete --force io2
bundle io3 true
edit io3 's["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_RT", "priority": 9}'
refused io3 process.ioPriority.priority

# --- process.scheduler --------------------------------------------------------
bundle sb sleep 30
edit sb 's["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}'
start sb
pid=$(pid_of sb)
chrt -p "$pid" | grep -q "policy: SCHED_BATCH" || fail "scheduler: $(chrt -p "$pid")"
expect_eq "scheduler SCHED_BATCH, nice 7" "$(awk '{print $19}' "/proc/$pid/stat")" 7
"${BO[@]}" delete --force sb

# SCHED_DEADLINE (sleep is the process itself: a deadline task cannot fork)
bundle dl sleep 30
edit dl 's["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 10000000, "deadline": 30000000, "period": 100000000}'
start dl
expect_eq "scheduler SCHED_DEADLINE runtime/deadline/period" \
	"$(chrt -p "$(pid_of dl)" | sed -n 's/.*parameters: //p')" "10000000/30000000/100000000"
"${BO[@]}" delete --force dl
bundle dl2 sleep 30
edit dl2 's["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 30000000, "deadline": 10000000, "period": 100000000}'
refused dl2 "process.scheduler: sched_setattr: Invalid argument"
bundle sx true
edit sx 's["process"]["scheduler"] = {"policy": "SCHED_NOPE"}'
refused sx process.scheduler.policy

# SCHED_RR needs real-time bandwidth in the container's cgroup where the
# kernel groups it (v1 cpu with CONFIG_RT_GROUP_SCHED): cpu.realtimeRuntime.
cpumnt=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpu(,|$)/ {print $2; exit}' /proc/self/mounts)
cpuown=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3; exit}' /proc/self/cgroup)
bundle rr sleep 30
edit rr 's["process"]["scheduler"] = {"policy": "SCHED_RR", "priority": 5}'
if [ -n "$cpumnt" ] && [ -e "$cpumnt/cpu.rt_runtime_us" ]; then
	refused rr "process.scheduler: sched_setattr: Operation not permitted"
	edit rr 's["linux"]["resources"]["cpu"] = {"realtimeRuntime": 10000, "realtimePeriod": 1000000}'
	# the parent's bandwidth bounds the child's (the test's own folder)
	refused rr "linux.resources.cpu.realtimeRuntime"
	parent=$cpumnt${cpuown%/}/$CGPARENT
	mkdir -p "$parent"
	echo 20000 >"$parent/cpu.rt_runtime_us"
	start rr
	expect_eq "cpu.realtimeRuntime written" "$(cat "$parent/rr/cpu.rt_runtime_us")" 10000
	expect_eq "cpu.realtimePeriod written" "$(cat "$parent/rr/cpu.rt_period_us")" 1000000
else
	start rr
	echo "note: no v1 real-time group scheduling here; realtimeRuntime must be refused"
fi
pid=$(pid_of rr)
chrt -p "$pid" | grep -q "policy: SCHED_RR" || fail "scheduler: $(chrt -p "$pid")"
expect_eq "scheduler SCHED_RR priority 5" "$(chrt -p "$pid" | sed -n 's/.*priority: //p')" 5
"${BO[@]}" delete --force rr
if [ -z "$cpumnt" ] || [ ! -e "$cpumnt/cpu.rt_runtime_us" ]; then
	bundle rt2 true
	edit rt2 's["linux"]["resources"]["cpu"] = {"realtimeRuntime": 10000}'
	refused rt2 linux.resources.cpu.realtimeRuntime
fi

# --- process.execCPUAffinity --------------------------------------------------
if [ "$(nproc)" -ge 2 ] && grep -q '^Cpus_allowed_list:[[:space:]]*0-' /proc/self/status; then
	bundle af sleep 30
	# In config.json it is for exec'd processes only, never the init.
	edit af 's["process"]["execCPUAffinity"] = {"final": "1"}'
	start af
	expect_eq "execCPUAffinity leaves the init alone" \
		"$(awk '/^Cpus_allowed_list/ {print $2}' "/proc/$(pid_of af)/status")" \
		"$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)"
	expect_eq "exec: config.json's execCPUAffinity.final" \
		"$("${BO[@]}" exec af awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)" 1
	aff() {
		printf '{"args": ["awk", "/^Cpus_allowed_list/ {print $2}", "/proc/self/status"], "cwd": "/", "execCPUAffinity": %s}' "$1" >"$T/aff.json"
		"${BO[@]}" exec --process "$T/aff.json" af
	}
	expect_eq "exec: execCPUAffinity initial 1, final 0" "$(aff '{"initial": "1", "final": "0"}')" 0
	# Without final the process keeps initial's (Linux 6.2+ keeps the
	# affinity asked through a cpuset move).
	if [ "$(printf '%s\n' 6.2 "$(uname -r)" | sort -V | head -n 1)" = 6.2 ]; then
		expect_eq "exec: execCPUAffinity initial 1 alone" "$(aff '{"initial": "1"}')" 1
	fi
	# A CPU beyond the possible ones: the kernel's EINVAL, named.
	none=$(($(sed 's/.*[-,]//' /sys/devices/system/cpu/possible) + 1))
	for f in initial final; do
		if aff "{\"$f\": \"$none\"}" 2>"$T/aff.err" >/dev/null; then fail "execCPUAffinity.$f $none accepted"; fi
		grep -q "process.execCPUAffinity.$f: CPUs $none: Invalid argument" "$T/aff.err" ||
			fail "execCPUAffinity.$f: $(cat "$T/aff.err")"
		ok "exec: CPU $none (not on this host) in execCPUAffinity.$f is named"
	done
	if aff '{"initial": "1-0"}' 2>"$T/aff.err" >/dev/null; then fail "execCPUAffinity 1-0 accepted"; fi
	grep -q "process.execCPUAffinity.initial: not a CPU list" "$T/aff.err" || fail "execCPUAffinity 1-0: $(cat "$T/aff.err")"
	ok "exec: a malformed CPU list is named"
	"${BO[@]}" delete --force af
else
	echo "skip: execCPUAffinity needs two CPUs starting at 0"
fi
