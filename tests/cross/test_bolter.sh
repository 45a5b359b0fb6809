#!/usr/bin/env bash
# The cross-built (static, any CR_CROSS_ARCH) bolter runs a real container
# under qemu-user: its clone, unshare of the mount, pid, uts, ipc and
# network namespaces, its mounts and pivot_root are system calls qemu
# passes to the kernel (the container's program is the host's static
# busybox, which the kernel runs natively).  `run --detach` starts it
# (the container's pid 1 writes its pid and hostname into its root), the
# host sees its namespaces differ from its own, `exec --detach` joins them
# (setns into the mount namespace needs bolter's unshare(CLONE_FS): qemu's
# helper thread shares the fs_struct), kill and delete leave nothing
# behind.  A foreground `run` needs prctl(PR_SET_CHILD_SUBREAPER), which
# qemu-user 7.2 does not emulate: bolter must say so, not fail silently
# (docs/cross.md).
# Then a container of the architecture itself: inside a user namespace
# (Linux 6.7 and later give it its own binfmt_misc), qemu is registered
# for ARCH with the F flag, the cross-built bolter is run by the kernel
# through it (no emulator on the command line), and the container's
# program is ARCH's own static busybox (from the sysroot), which reaches
# qemu through the same entry inside the container's mount namespace,
# where no qemu exists.  Skipped with a note where the kernel has no
# private binfmt_misc or the sysroot no busybox (mips).
# Root only.  Cross builds only (tests/CMakeLists.txt).
set -euo pipefail
: "${BOLTER_CROSS:?run through ctest}" "${CR_EMULATOR:?}" "${KORHAL_SRC:?}"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: bolter needs root"
	exit 77
fi
. "$KORHAL_SRC/tests/integration/lib.sh"
. "$KORHAL_SRC/tests/cross/cross_lib.sh"
cross_check_elf "$BOLTER_CROSS"
bo() { "$CR_EMULATOR" "$BOLTER_CROSS" --root "$T/state" "$@"; }
id=korhal-cross-$$
# lib.sh's cleanup takes the test's status from $?: hand it on.
# shellcheck disable=SC2154 # st is set inside the trap
trap 'st=$?; bo delete --force "$id" >/dev/null 2>&1; (exit $st); cleanup' EXIT

rc=0
"$KORHAL_SRC/tests/bolter/mkbundle.sh" "$T/b" sh -c \
	'echo "$$ $(hostname)" >/started; exec sleep 120' >/dev/null || rc=$?
[ "$rc" != 77 ] || exit 77
[ "$rc" = 0 ] || fail "mkbundle"
cd "$T/b"

# The foreground run: a clear refusal under qemu-user 7.2 (a later qemu
# that emulates the prctl runs it).
if out=$(bo run "$id-fg" 2>&1); then
	echo "note: this qemu-user emulates PR_SET_CHILD_SUBREAPER: foreground run worked"
else
	grep -q "PR_SET_CHILD_SUBREAPER" <<<"$out" || fail "foreground run failed unclearly: $out"
	bo list -q | grep -qx "$id-fg" && fail "a refused run left $id-fg behind"
	ok "$ARCH bolter: a foreground run under qemu-user says PR_SET_CHILD_SUBREAPER is missing"
fi

bo run --detach "$id" || fail "run --detach"
wait_until 30 test -s "$T/b/rootfs/started" || fail "the container never started"
read -r inner host <"$T/b/rootfs/started"
[ "$inner" = 1 ] && [ "$host" = bolter ] ||
	fail "container's pid/hostname: '$inner' '$host', want 1 bolter (pid and uts namespaces)"
pid=$(bo state "$id" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
[ -n "$pid" ] && kill -0 "$pid" || fail "state has no live pid: $(bo state "$id")"
bo state "$id" | grep -q '"status": *"running"' || fail "not running: $(bo state "$id")"
for ns in mnt pid uts ipc net; do
	[ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ] ||
		fail "the container shares the host's $ns namespace"
done
[ "$(readlink "/proc/$pid/root")" = / ] && [ -e "/proc/$pid/root/started" ] ||
	fail "the container's root is not its rootfs (pivot_root)"
ok "$ARCH bolter under qemu-user: run --detach, pid 1 in its own mnt, pid, uts, ipc and net namespaces, rootfs pivoted"

bo exec --detach "$id" sh -c 'echo "$$ $(hostname) $(cat /started)" >/exec' || fail "exec --detach"
wait_until 30 test -s "$T/b/rootfs/exec" || fail "exec's process never ran"
read -r epid ehost _ <"$T/b/rootfs/exec"
[ "$ehost" = bolter ] && [ "$epid" -gt 1 ] && [ "$epid" -lt 100 ] ||
	fail "exec ran outside the container's namespaces: $(cat "$T/b/rootfs/exec")"
ok "$ARCH bolter: exec joins the container's namespaces (mount namespace too)"

bo kill "$id" KILL || fail "kill"
wait_until 30 sh -c "! kill -0 $pid 2>/dev/null" || fail "pid $pid still alive after kill"
bo delete "$id" || fail "delete"
bo list -q | grep -qx "$id" && fail "$id still listed after delete"
ok "$ARCH bolter: kill and delete leave no process and no state"

# --- a container of ARCH through binfmt_misc, in a user namespace --------
bb=
[ -z "${CR_CROSS_SYSROOT:-}" ] || bb=$CR_CROSS_SYSROOT/bin/busybox
case $ARCH in
armel | armhf) qarch=arm ;;
arm64) qarch=aarch64 ;;
*) qarch=$ARCH ;;
esac
reg=/usr/share/binfmts/qemu-$qarch
if [ -z "$bb" ] || [ ! -x "$bb" ] || [ ! -f "$reg" ]; then
	echo "note: no $ARCH busybox in the sysroot or no $reg: no foreign-architecture container"
	exit 0
fi
want=$("$CR_EMULATOR" "$bb" uname -m)
magic=$(sed -n 's/^magic //p' "$reg")
mask=$(sed -n 's/^mask //p' "$reg")
"$KORHAL_SRC/tests/bolter/mkbundle.sh" "$T/fb" sh -c \
	'echo "$(uname -m) $$ $(hostname)" >/started; exec sleep 120' >/dev/null || fail "mkbundle"
cp "$bb" "$T/fb/rootfs/bin/busybox"
# No cgroups and no supplementary groups inside a user namespace bolter did
# not make itself.
python3 - "$T/fb/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"].pop("resources", None)
c["process"]["user"].pop("additionalGids", None)
json.dump(c, open(sys.argv[1], "w"))
PY
cat >"$T/inner.sh" <<SH
set -e
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 3
printf '%s' ':korhal-$qarch:M::$magic:$mask:$CR_EMULATOR:FP' >/proc/sys/fs/binfmt_misc/register
cd "$T/fb"
"$BOLTER_CROSS" --root "$T/ustate" run --detach fid
for i in \$(seq 1 300); do [ -s "$T/fb/rootfs/started" ] && break; sleep 0.1; done
"$BOLTER_CROSS" --root "$T/ustate" state fid >"$T/fstate" || true
"$BOLTER_CROSS" --root "$T/ustate" delete --force fid
SH
unshare --user --mount --propagation private sleep 300 &
upid=$!
PIDS+=("$upid")
wait_until 10 test -e "/proc/$upid/uid_map" || fail "unshare"
sleep 0.2
# Written from outside (root in the parent namespace), so setgroups stays
# allowed for bolter inside.
echo "0 0 1" >"/proc/$upid/uid_map"
echo "0 0 1" >"/proc/$upid/gid_map"
rc=0
nsenter -t "$upid" -U -m sh "$T/inner.sh" >"$T/inner.log" 2>&1 || rc=$?
kill "$upid" 2>/dev/null || true
if [ "$rc" = 3 ]; then
	echo "note: this kernel gives a user namespace no binfmt_misc of its own (Linux < 6.7): no foreign-architecture container"
	exit 0
fi
[ "$rc" = 0 ] || fail "bolter through binfmt_misc: $(cat "$T/inner.log")"
[ -s "$T/fb/rootfs/started" ] || fail "the $ARCH container never started: $(cat "$T/inner.log")"
read -r fm fpid fhost <"$T/fb/rootfs/started"
[ "$fm" = "$want" ] && [ "$fm" != x86_64 ] && [ "$fpid" = 1 ] && [ "$fhost" = bolter ] ||
	fail "the $ARCH container says '$fm $fpid $fhost', want '$want 1 bolter'"
grep -q '"status": *"running"' "$T/fstate" || fail "not running: $(cat "$T/fstate")"
ok "$ARCH bolter, run by the kernel through binfmt_misc, runs an $ARCH busybox container ($fm, pid 1, own hostname)"
