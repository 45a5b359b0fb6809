#!/usr/bin/env bash
# bolter and runtime-spec fields as the ecosystem writes them: a seccomp
# rule with several conditions on one argument (split into one rule per
# condition, as runc and crun do), hugepageLimits on the hugetlb
# controller, unified cgroup v2 files, and namespaces joined by path (/proc/PID/ns/* and a
# bind-mounted namespace file, a user namespace among them).
. "$(dirname "$0")/../bolter/lib.sh"

# --- seccomp: two values of one argument in one rule mean either ------------
bundle sc sh -c 'touch /tmp/f; for m in 600 777 700; do chmod $m /tmp/f 2>/dev/null && echo $m-ok || echo $m-denied; done'
edit sc 's["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": [
 {"names": ["chmod", "fchmod"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 448, "op": "SCMP_CMP_EQ"}]},
 {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 448, "op": "SCMP_CMP_EQ"}]},
 {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]}]}'
expect_eq "seccomp: conditions on one argument split into rules" \
	"$(run_in sc | tr '\n' ' ')" "600-ok 777-denied 700-denied "

# The runtime-tools generator's default profile writes `personality` with
# three values of argument 0 in one rule (0, PER_LINUX32 = 8, 0xffffffff);
# here they are denied, so busybox's linux32 (personality(8)) fails.
bundle sp sh -c 'linux32 true 2>/dev/null && echo linux32-ok || echo linux32-denied'
edit sp 's["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": [
 {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]}]}'
expect_eq "the runtime-tools personality rule (three values of argument 0)" \
	"$(run_in sp 2>&1)" linux32-denied

# --- hugepageLimits ----------------------------------------------------------
hugetlb=$(find /sys/fs/cgroup -maxdepth 2 -name 'hugetlb.2MB.*' 2>/dev/null | head -n 1)
if [ -n "$hugetlb" ] || grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null ||
	grep -qw hugetlb /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	bundle hp sh -c 'sleep 30'
	edit hp 's["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4194304}]'
	(cd "$T/hp" && "${BO[@]}" run --detach hp)
	f=$(find /sys/fs/cgroup \( -path "*$CGPARENT/hp/hugetlb.2MB.max" -o -path "*$CGPARENT/hp/hugetlb.2MB.limit_in_bytes" \) 2>/dev/null | head -n 1)
	[ -n "$f" ] || fail "hugepageLimits: no hugetlb.2MB limit file for the container"
	expect_eq "hugepageLimits 2MB written to $(basename "$f")" "$(cat "$f")" 4194304
	r=${f%.max}.rsvd.max
	[ "$r" = "$f" ] || [ ! -e "$r" ] || expect_eq "hugepageLimits: the reservation limit too" "$(cat "$r")" 4194304
	"${BO[@]}" delete --force hp
else
	echo "skip: no hugetlb controller on this host"
fi
bundle hb sh -c 'true'
edit hb 's["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2 MB; x", "limit": 1}]'
if run_in hb 2>"$T/hb.err"; then fail "a bad hugepage size was accepted"; fi
grep -q "hugepageLimits\[0\].pageSize" "$T/hb.err" || fail "hugepage error: $(cat "$T/hb.err")"
ok "a bad hugepage size is named"

# --- unified: cgroup v2 files by name ---------------------------------------
if grep -q " cgroup2 " /proc/self/mounts; then
	bundle un2 sh -c 'sleep 30'
	edit un2 's["linux"]["resources"]["unified"] = {"cgroup.max.descendants": "3"}'
	(cd "$T/un2" && "${BO[@]}" run --detach un2)
	f=$(find /sys/fs/cgroup -path "*$CGPARENT/un2/cgroup.max.descendants" 2>/dev/null | head -n 1)
	[ -n "$f" ] || fail "unified: no cgroup v2 folder for the container"
	expect_eq "unified: cgroup.max.descendants written" "$(cat "$f")" 3
	"${BO[@]}" delete --force un2
	bundle un3 sh -c 'true'
	edit un3 's["linux"]["resources"]["unified"] = {"nosuch.file": "1"}'
	if run_in un3 2>"$T/un3.err"; then fail "unified: a missing file was accepted"; fi
	grep -q "linux.resources.unified.nosuch.file" "$T/un3.err" || fail "unified error: $(cat "$T/un3.err")"
	ok "unified: a file the kernel lacks is named"
	left=$(find /sys/fs/cgroup -maxdepth 8 -path "*$CGPARENT/un3" 2>/dev/null | head -n 1)
	[ -z "$left" ] || fail "a refused limit left the cgroup $left"
	ok "a refused limit leaves no cgroup behind"
fi
bundle un4 sh -c 'true'
edit un4 's["linux"]["resources"]["unified"] = {"../../cgroup.procs": "1"}'
if run_in un4 2>"$T/un4.err"; then fail "unified: a path was accepted"; fi
grep -q "linux.resources.unified" "$T/un4.err" || fail "unified path error: $(cat "$T/un4.err")"
ok "unified: a key that is a path is refused"

# --- namespaces joined by path ----------------------------------------------
bundle host sh -c 'sleep 60'
edit host 's["hostname"] = "alpha"'
(cd "$T/host" && "${BO[@]}" run --detach host)
pid=$("${BO[@]}" state host | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
bundle join sh -c 'hostname; echo $$'
edit join "del s['hostname']; s['linux']['namespaces'] = [n if n['type'] not in ('uts', 'network', 'pid', 'ipc') else dict(n, path='/proc/$pid/ns/' + {'network': 'net'}.get(n['type'], n['type'])) for n in s['linux']['namespaces']]"
out=$(run_in join | tr '\n' ' ')
# The joined pid namespace holds the first container's init (pid 1), so
# this one's shell is not pid 1; the uts namespace gives its hostname.
case $out in
"alpha 1 "*) fail "joined pid namespace: the shell is pid 1: $out" ;;
"alpha "*) ok "uts, pid, ipc and network namespaces joined by /proc/PID/ns path" ;;
*) fail "namespaces joined by path: $out" ;;
esac
"${BO[@]}" delete --force host

# A bind-mounted network namespace file (as `ip netns add` makes).
touch "$T/netns"
unshare --net="$T/netns" sh -c 'ip link set lo up 2>/dev/null || true'
bundle nsf sh -c 'cat /proc/self/net/dev | wc -l; readlink /proc/self/ns/net'
edit nsf "s['linux']['namespaces'] = [n if n['type'] != 'network' else dict(n, path='$T/netns') for n in s['linux']['namespaces']]"
want=$(stat -L -c %i "$T/netns")
got=$(run_in nsf | tail -n 1)
umount "$T/netns"
expect_eq "network namespace joined by a bind-mounted file" "$got" "net:[$want]"

# A user namespace joined by path, with no uidMappings of its own.
bundle un sh -c 'sleep 60'
edit un 's["linux"]["namespaces"].append({"type": "user"}); s["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]; s["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
(cd "$T/un" && "${BO[@]}" run --detach un)
pid=$("${BO[@]}" state un | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
bundle uj sh -c 'cat /proc/self/uid_map'
edit uj "s['linux']['namespaces'] = [n if n['type'] != 'network' else dict(n, path='/proc/$pid/ns/net') for n in s['linux']['namespaces']] + [{'type': 'user', 'path': '/proc/$pid/ns/user'}]"
expect_eq "user namespace joined by path" "$(run_in uj | tr -s ' ')" " 0 100000 65536"
"${BO[@]}" delete --force un
bundle nx sh -c 'true'
edit nx "s['linux']['namespaces'] = [n if n['type'] != 'network' else dict(n, path='$T/none') for n in s['linux']['namespaces']]"
if run_in nx 2>"$T/nx.err"; then fail "a missing namespace path was accepted"; fi
grep -q "linux.namespaces: network $T/none" "$T/nx.err" || fail "missing ns path error: $(cat "$T/nx.err")"
ok "a missing namespace path is named"
