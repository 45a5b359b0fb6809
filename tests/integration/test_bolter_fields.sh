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
	"${BO[@]}" update --cpu-rt-period 500000 --cpu-rt-runtime 5000 rr
	expect_eq "update --cpu-rt-runtime, --cpu-rt-period" \
		"$(cat "$parent/rr/cpu.rt_runtime_us") $(cat "$parent/rr/cpu.rt_period_us")" "5000 500000"
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

# --- cgroup files ---------------------------------------------------------------
# cgfile NAME FILE: the container's FILE in whichever hierarchy has it.
cgfile() { find /sys/fs/cgroup -path "*$CGPARENT/$1/$2" 2>/dev/null | head -n 1; }
# v1 HIERARCHY-CONTROLLER: 0 when a cgroup v1 hierarchy holds it here.
v1() { awk -v c="$1" '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) f = 1 } END { exit !f }' /proc/self/mounts; }
v2has() { grep -qw "$1" "$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)/cgroup.controllers" 2>/dev/null; }

# --- memory.swappiness, memory.disableOOMKiller -----------------------------------
bundle mem sleep 30
edit mem 's["linux"]["resources"]["memory"] = {"swappiness": 17, "disableOOMKiller": True, "kernelTCP": 8388608}'
if v1 memory; then
	start mem
	expect_eq "memory.kernelTCP written" "$(cat "$(cgfile mem memory.kmem.tcp.limit_in_bytes)")" 8388608
	"${BO[@]}" update --kernel-memory-tcp 4m mem
	expect_eq "update --kernel-memory-tcp" "$(cat "$(cgfile mem memory.kmem.tcp.limit_in_bytes)")" 4194304
	expect_eq "memory.swappiness written" "$(cat "$(cgfile mem memory.swappiness)")" 17
	expect_eq "memory.disableOOMKiller written" \
		"$(awk '$1 == "oom_kill_disable" {print $2}' "$(cgfile mem memory.oom_control)")" 1
	"${BO[@]}" delete --force mem
	# -1 (Docker's "unset") is no value at all; 101 is out of range
	bundle mem2 sleep 30
	edit mem2 's["linux"]["resources"]["memory"] = {"swappiness": -1}'
	start mem2
	"${BO[@]}" delete --force mem2
	ok "memory.swappiness -1 means unset"
elif v2has memory; then
	refused mem linux.resources.memory.swappiness
	edit mem 's["linux"]["resources"]["memory"] = {"disableOOMKiller": True, "kernelTCP": 8388608}'
	refused mem linux.resources.memory.disableOOMKiller
else
	echo "skip: no memory controller here"
fi
bundle mem3 true
edit mem3 's["linux"]["resources"]["memory"] = {"swappiness": 101}'
refused mem3 "linux.resources.memory.swappiness: must be 0 to 100"

# --- blockIO ----------------------------------------------------------------------
disk=
for d in /sys/block/*; do
	case ${d##*/} in loop* | ram* | zram*) continue ;; esac
	[ -r "$d/dev" ] && { disk=$(cat "$d/dev"); break; }
done
[ -n "$disk" ] || disk=$(cat /sys/block/loop0/dev 2>/dev/null || true)
maj=${disk%:*} min=${disk#*:}
if { v1 blkio || v2has io; } && [ -n "$disk" ]; then
	bundle bio sleep 30
	edit bio "s['linux']['resources']['blockIO'] = {
		'throttleReadBpsDevice': [{'major': $maj, 'minor': $min, 'rate': 1048576}],
		'throttleWriteBpsDevice': [{'major': $maj, 'minor': $min, 'rate': 2097152}],
		'throttleReadIOPSDevice': [{'major': $maj, 'minor': $min, 'rate': 100}],
		'throttleWriteIOPSDevice': [{'major': $maj, 'minor': $min, 'rate': 50}]}"
	start bio
	if "${BO[@]}" update --blkio-weight 5 bio 2>"$T/bio.err"; then fail "update --blkio-weight 5 accepted"; fi
	ok "update --blkio-weight 5 refused: $(cat "$T/bio.err")"
	if v1 blkio; then
		for f in read_bps:1048576 write_bps:2097152 read_iops:100 write_iops:50; do
			expect_eq "blockIO: blkio.throttle.${f%:*}_device ($disk)" \
				"$(cat "$(cgfile bio "blkio.throttle.${f%:*}_device")")" "$disk ${f#*:}"
		done
	else
		expect_eq "blockIO: io.max ($disk)" "$(grep "^$disk " "$(cgfile bio io.max)")" \
			"$disk rbps=1048576 wbps=2097152 riops=100 wiops=50"
	fi
	"${BO[@]}" delete --force bio
	# weight: where the disk's scheduler has weights (BFQ; CFQ before 5.0)
	bundle biow sleep 30
	edit biow "s['linux']['resources']['blockIO'] = {'weight': 300, 'weightDevice': [{'major': $maj, 'minor': $min, 'weight': 200}]}"
	# which weight file a container's cgroup has (BFQ's are not on the root)
	bundle bioq sleep 30
	start bioq
	wf=
	for f in blkio.bfq.weight blkio.weight io.bfq.weight io.weight; do
		if [ -z "$wf" ] && [ -n "$(cgfile bioq $f)" ]; then wf=$f; fi
	done
	"${BO[@]}" delete --force bioq
	if [ -n "$wf" ]; then
		start biow
		case $wf in
		io.weight) want="default 2930" ;; # runc's 10..1000 to 1..10000: 1 + 290 * 9999 / 990
		io.bfq.weight) want="default 300" ;;
		*) want=300 ;;
		esac
		expect_eq "blockIO.weight in $wf" "$(head -n 1 "$(cgfile biow "$wf")")" "$want"
		"${BO[@]}" update --blkio-weight 1000 biow
		case $wf in io.weight) want="default 10000" ;; io.bfq.weight) want="default 1000" ;; *) want=1000 ;; esac
		expect_eq "update --blkio-weight" "$(head -n 1 "$(cgfile biow "$wf")")" "$want"
		"${BO[@]}" delete --force biow
	else
		refused biow linux.resources.blockIO.weight
		bundle biou sleep 30
		start biou
		if "${BO[@]}" update --blkio-weight 300 biou 2>"$T/biou.err"; then fail "update --blkio-weight accepted without weights"; fi
		grep -q "linux.resources.blockIO.weight" "$T/biou.err" || fail "update --blkio-weight: $(cat "$T/biou.err")"
		ok "update --blkio-weight where the disks have no weights: refused, named"
		"${BO[@]}" delete --force biou
	fi
	bundle biol true
	edit biol 's["linux"]["resources"]["blockIO"] = {"leafWeight": 300}'
	if [ -z "$(find /sys/fs/cgroup -maxdepth 2 -name blkio.leaf_weight 2>/dev/null | head -n 1)" ]; then
		refused biol linux.resources.blockIO.leafWeight
	fi
	# a device the kernel does not have: its ENODEV, named
	bundle biox true
	edit biox 's["linux"]["resources"]["blockIO"] = {"throttleWriteIOPSDevice": [{"major": 4095, "minor": 4095, "rate": 5}]}'
	refused biox "linux.resources.blockIO.throttleWriteIOPSDevice[0]"
else
	echo "skip: no blkio/io controller or no block device here"
fi
bundle biob true
edit biob 's["linux"]["resources"]["blockIO"] = {"weight": 5}'
refused biob "linux.resources.blockIO.weight: must be 10 to 1000"

# --- network: net_cls.classid, net_prio.ifpriomap (cgroup v1 only) ----------------
bundle net sleep 30
edit net 's["linux"]["resources"]["network"] = {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}'
check_net() {
	expect_eq "network.classID in net_cls.classid" "$(cat "$(cgfile net net_cls.classid)")" 1048577
	expect_eq "network.priorities in net_prio.ifpriomap" \
		"$(grep '^lo ' "$(cgfile net net_prio.ifpriomap)")" "lo 5"
}
if v1 net_cls && v1 net_prio; then
	start net
	check_net
	"${BO[@]}" delete --force net
else
	refused net "linux.resources.network.classID: no net_cls"
	edit net 's["linux"]["resources"]["network"] = {"priorities": [{"name": "lo", "priority": 5}]}'
	refused net "linux.resources.network.priorities: no net_prio"
	# Then a net_cls,net_prio hierarchy of the test's own, mounted in a
	# private mount namespace, when the kernel has both and no hierarchy
	# holds them (else mounting would share a live one).  It is unmounted
	# only once no cgroup is left in it, dying ones included: a hierarchy
	# unmounted with children would outlive the test.
	if awk '$1 ~ /^net_(cls|prio)$/ && $2 == 0 && $4 == 1 {n++} END {exit n != 2}' /proc/cgroups; then
		edit net 's["linux"]["resources"]["network"] = {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}'
		mkdir -p "$T/cg/net_cls,net_prio"
		export -f check_net cgfile expect_eq ok fail
		export T CGPARENT
		BO_LINE=${BO[*]} unshare -m --propagation private bash -euo pipefail -c '
			mnt="$T/cg/net_cls,net_prio"
			mount -t cgroup -o net_cls,net_prio cgroup "$mnt"
			done_net() {
				rc=$?
				$BO_LINE delete --force net >/dev/null 2>&1 || true
				find "$mnt" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
				for _ in $(seq 100); do
					awk "\$1 == \"net_cls\" && \$3 > 1 {f = 1} END {exit !f}" /proc/cgroups || break
					sleep 0.1
				done
				umount "$mnt"
				exit $rc
			}
			trap done_net EXIT
			(cd "$T/net" && $BO_LINE run --detach net)
			cgfile() { find "$mnt" -path "*$CGPARENT/$1/$2" | head -n 1; }
			check_net'
		# the kernel destroys an unmounted hierarchy from a work queue
		for _ in $(seq 100); do
			awk '$1 == "net_cls" && $2 != 0 {exit 1}' /proc/cgroups && break
			sleep 0.1
		done
		awk '$1 == "net_cls" && $2 != 0 {exit 1}' /proc/cgroups || fail "the test's net_cls hierarchy outlived it"
		ok "the test's net_cls,net_prio hierarchy is gone"
	else
		echo "skip: net_cls/net_prio missing from this kernel, or mounted elsewhere: checked the refusal only"
	fi
fi

# --- rdma ---------------------------------------------------------------------------
bundle rd sleep 30
edit rd 's["linux"]["resources"]["rdma"] = {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 100}}'
if v1 rdma || v2has rdma; then
	# the device must exist: without one the kernel refuses, named
	if [ -d /sys/class/infiniband/mlx5_0 ]; then
		start rd
		expect_eq "rdma.max" "$(grep '^mlx5_0 ' "$(cgfile rd rdma.max)")" "mlx5_0 hca_handle=3 hca_object=100"
		"${BO[@]}" delete --force rd
	else
		refused rd "linux.resources.rdma.mlx5_0"
	fi
else
	refused rd "linux.resources.rdma: no rdma controller"
	echo "note: no rdma controller here: only the refusal is checked"
fi

# --- time namespace, linux.timeOffsets ------------------------------------------------
if [ -e /proc/self/ns/time ]; then
	bundle tm sleep 30
	edit tm 's["linux"]["namespaces"].append({"type": "time"}); s["linux"]["timeOffsets"] = {"boottime": {"secs": 864000}, "monotonic": {"secs": 1000, "nanosecs": 5}}'
	start tm
	pid=$(pid_of tm)
	[ "$(readlink "/proc/$pid/ns/time")" != "$(readlink /proc/self/ns/time)" ] || fail "time namespace: the init is in the host's"
	ok "a new time namespace"
	expect_eq "timeOffsets in the container's timens_offsets" \
		"$("${BO[@]}" exec tm cat /proc/self/timens_offsets | tr -s ' ' | tr '\n' ';')" \
		"monotonic 1000 5;boottime 864000 0;"
	# boottime shows in /proc/uptime: the host's plus ten days
	up=$("${BO[@]}" exec tm cat /proc/uptime | cut -d. -f1)
	host=$(cut -d. -f1 /proc/uptime)
	[ "$up" -ge $((host + 864000 - 5)) ] && [ "$up" -le $((host + 864000 + 60)) ] ||
		fail "boottime offset: uptime $up in the container, $host on the host"
	ok "boottime offset seen in the container's /proc/uptime"
	# joined by path, without offsets of its own
	bundle tj cat /proc/self/timens_offsets
	edit tj "s['linux']['namespaces'].append({'type': 'time', 'path': '/proc/$pid/ns/time'})"
	expect_eq "time namespace joined by path" "$(run_in tj | tr -s ' ' | head -n 1)" "monotonic 1000 5"
	"${BO[@]}" delete --force tm
	bundle tj2 true
	edit tj2 "s['linux']['namespaces'].append({'type': 'time', 'path': '/proc/1/ns/time'}); s['linux']['timeOffsets'] = {'boottime': {'secs': 1}}"
	refused tj2 "linux.timeOffsets: cannot be set on a joined time namespace"
else
	echo "skip: this kernel has no time namespaces"
fi
bundle to true
edit to 's["linux"]["timeOffsets"] = {"boottime": {"secs": 1}}'
refused to "linux.timeOffsets: needs a new time namespace"

# --- linux.personality ----------------------------------------------------------------
if [ "$(uname -m)" = x86_64 ]; then
	bundle pe sh -c 'uname -m; sleep 30'
	edit pe 's["linux"]["personality"] = {"domain": "LINUX32"}'
	start pe
	expect_eq "personality LINUX32 (the persona in /proc/PID/personality)" "$(cat "/proc/$(pid_of pe)/personality")" 00000008
	expect_eq "personality LINUX32: exec'd uname -m" "$("${BO[@]}" exec pe uname -m)" i686
	"${BO[@]}" delete --force pe
fi
bundle pe2 true
edit pe2 's["linux"]["personality"] = {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}'
refused pe2 linux.personality.flags

# --- cpu.burst, cpu.idle ----------------------------------------------------------------
bundle cb sleep 30
edit cb 's["linux"]["resources"]["cpu"] = {"quota": 50000, "period": 100000, "burst": 20000, "idle": 1}'
if v1 cpu && [ -e "$cpumnt/cpu.cfs_burst_us" ] && [ -e "$cpumnt/cpu.idle" ]; then
	start cb
	expect_eq "cpu.burst in cpu.cfs_burst_us" "$(cat "$(cgfile cb cpu.cfs_burst_us)")" 20000
	expect_eq "cpu.idle" "$(cat "$(cgfile cb cpu.idle)")" 1
	"${BO[@]}" delete --force cb
elif v2has cpu; then
	start cb
	expect_eq "cpu.burst in cpu.max.burst" "$(cat "$(cgfile cb cpu.max.burst)")" 20000
	expect_eq "cpu.idle" "$(cat "$(cgfile cb cpu.idle)")" 1
	"${BO[@]}" delete --force cb
else
	echo "skip: no cpu controller with burst and idle here"
fi

# --- memory.useHierarchy, memory.checkBeforeUpdate ----------------------------------------
if v1 memory; then
	bundle uh sleep 30
	edit uh 's["linux"]["resources"]["memory"] = {"useHierarchy": True, "limit": 104857600}'
	start uh
	expect_eq "memory.useHierarchy true" "$(cat "$(cgfile uh memory.use_hierarchy)")" 1
	# checkBeforeUpdate: a limit below the usage is refused, not written
	if echo '{"memory": {"limit": 4096, "checkBeforeUpdate": true}}' |
		"${BO[@]}" update --resources - uh 2>"$T/uh.err"; then
		fail "checkBeforeUpdate: a limit below the usage was accepted"
	fi
	grep -q "linux.resources.memory.limit: 4096 is below the .* bytes in use (checkBeforeUpdate)" "$T/uh.err" ||
		fail "checkBeforeUpdate: $(cat "$T/uh.err")"
	expect_eq "checkBeforeUpdate: the limit is unchanged" "$(cat "$(cgfile uh memory.limit_in_bytes)")" 104857600
	echo '{"memory": {"limit": 209715200, "checkBeforeUpdate": true}}' | "${BO[@]}" update --resources - uh
	expect_eq "checkBeforeUpdate: a limit above the usage is written" "$(cat "$(cgfile uh memory.limit_in_bytes)")" 209715200
	"${BO[@]}" delete --force uh
	# Linux 5.x on always use hierarchies: false is the kernel's EINVAL
	bundle uh2 true
	edit uh2 's["linux"]["resources"]["memory"] = {"useHierarchy": False}'
	if [ "$(printf '%s\n' 6.0 "$(uname -r)" | sort -V | head -n 1)" = 6.0 ]; then
		refused uh2 linux.resources.memory.useHierarchy
	fi
fi

# --- mount options: recursive ones (mount_setattr), nosymfollow ---------------------------
# $T/vol gets a tmpfs submount in a private mount namespace of the test's
# own: "ro" leaves it writable, "rro" does not.
mkdir -p "$T/vol/sub" "$T/sym"
echo hi >"$T/sym/f"
ln -s f "$T/sym/link"
bundle mo sh -c 'touch /vol/a 2>/dev/null && echo top-rw || echo top-ro; touch /vol/sub/b 2>/dev/null && echo sub-rw || echo sub-ro; cat /sym/link 2>/dev/null || echo link-refused; cat /sym/f'
mounts() {
	edit mo "s['mounts'] = [m for m in s['mounts'] if m['destination'] not in ('/vol', '/sym')] + [
		{'destination': '/vol', 'type': 'bind', 'source': '$T/vol', 'options': $1},
		{'destination': '/sym', 'type': 'bind', 'source': '$T/sym', 'options': $2}]"
	BO_LINE=${BO[*]} unshare -m --propagation private sh -c \
		"mount -t tmpfs sub '$T/vol/sub' && cd '$T/mo' && \$BO_LINE run mo" | tr '\n' ' '
}
expect_eq "ro on an rbind: the submount stays writable" \
	"$(mounts '["rbind", "ro"]' '["bind"]')" "top-ro sub-rw hi hi "
expect_eq "rro on an rbind: read-only all through; nosymfollow" \
	"$(mounts '["rbind", "rro"]' '["bind", "nosymfollow"]')" "top-ro sub-ro link-refused hi "
expect_eq "rnosymfollow" \
	"$(mounts '["rbind", "rro", "rrw"]' '["rbind", "rnosymfollow"]')" "top-rw sub-rw link-refused hi "

# --- idmapped mounts: mounts[].uidMappings/gidMappings, idmap, ridmap --------------------
mkdir -p "$T/idv"
echo x >"$T/idv/f" # owned by 0:0 on disk
chown 1000:1000 "$T/idv"
bundle id sh -c 'stat -c %u:%g /vol/f /vol | tr "\n" " "'
idmount() { edit id "s['mounts'] = [m for m in s['mounts'] if m['destination'] != '/vol'] + [dict({'destination': '/vol', 'type': 'bind', 'source': '$T/idv'}, **$1)]"; }
# the mount's own mappings, in a container without a user namespace
idmount "{'options': ['bind', 'idmap'], 'uidMappings': [{'containerID': 0, 'hostID': 5000, 'size': 2000}], 'gidMappings': [{'containerID': 0, 'hostID': 6000, 'size': 2000}]}"
expect_eq "idmap with the mount's mappings: disk 0 seen as 5000, 1000 as 6000" "$(run_in id)" "5000:6000 6000:7000 "
# idmap alone in a user namespace: the container's mapping, so its root
# sees the files of the host's root as its own
edit id 's["linux"]["namespaces"].append({"type": "user"}); s["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]; s["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
idmount "{'options': ['bind']}"
expect_eq "a plain bind in a user namespace: unmapped owners" "$(run_in id)" "65534:65534 65534:65534 "
idmount "{'options': ['rbind', 'ridmap']}"
expect_eq "ridmap with the container's user namespace" "$(run_in id)" "0:0 1000:1000 "
bundle id2 true
edit id2 "s['mounts'].append({'destination': '/vol', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['idmap']})"
refused id2 "mounts[7].options: idmap and ridmap need a bind mount"
bundle id3 true
edit id3 "s['mounts'].append({'destination': '/vol', 'type': 'bind', 'source': '$T/idv', 'options': ['bind', 'idmap']})"
refused id3 "mounts[7].options: idmap without uidMappings takes the container's user namespace, and there is none"

# --- tmpcopyup ----------------------------------------------------------------------------
bundle tc sh -c 'stat -c "%n %u:%g %a" /etc/sub /etc/sub/x; cat /etc/sub/x; readlink /etc/l; grep -c " /etc tmpfs ro," /proc/mounts; touch /etc/new 2>/dev/null || echo read-only'
mkdir -p "$T/tc/rootfs/etc/sub"
echo deep >"$T/tc/rootfs/etc/sub/x"
chown 7:8 "$T/tc/rootfs/etc/sub/x"
chmod 604 "$T/tc/rootfs/etc/sub/x"
chmod 750 "$T/tc/rootfs/etc/sub"
ln -s passwd "$T/tc/rootfs/etc/l"
edit tc "s['mounts'].append({'destination': '/etc', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['tmpcopyup', 'ro', 'mode=755']})"
expect_eq "tmpcopyup: the image's files on the tmpfs (owners, modes, links), then read-only" \
	"$(run_in tc | tr '\n' ' ')" "/etc/sub 0:0 750 /etc/sub/x 7:8 604 deep passwd 1 read-only "
edit tc "s['mounts'][-1]['options'] = ['ro', 'mode=755']"
expect_eq "without tmpcopyup the tmpfs is empty" "$(run_in tc 2>/dev/null | tr '\n' ' ')" "1 read-only "
bundle tc2 true
edit tc2 "s['mounts'].append({'destination': '/etc', 'type': 'bind', 'source': '$T/idv', 'options': ['bind', 'tmpcopyup']})"
refused tc2 "mounts[7].options: tmpcopyup needs a tmpfs mount"

# --- features says so ---------------------------------------------------------------------
"${BO[@]}" features | python3 -c '
import json, sys
d = json.load(sys.stdin)
l = d["linux"]
assert "time" in l["namespaces"], l["namespaces"]
assert l["mountExtensions"]["idmap"]["enabled"] is True
assert l["cgroup"]["rdma"] is True
for o in ("rro", "rnosuid", "nosymfollow", "idmap", "ridmap", "tmpcopyup"):
    assert o in d["mountOptions"], o
' || fail "features does not list the new fields"
ok "features: time namespace, idmapped mounts, rdma, the new mount options"
