#!/usr/bin/env bash
# bolter's checkpoint and restore: first the wiring to criu's command line
# with a stand-in criu on PATH (runc's options become criu's, errors are
# named, a failed restore leaves nothing, a restored process is recorded
# and in the container's cgroup).  A real checkpoint and restore is
# test_bolter_criu.sh, which skips where criu cannot work.
. "$(dirname "$0")/../bolter/lib.sh"

# --- usage errors ------------------------------------------------------------
for args in "checkpoint" "checkpoint --bogus x" "restore a b" \
	"checkpoint --bundle b x" "restore --leave-running x" \
	"checkpoint --manage-cgroups-mode sideways x"; do
	set +e
	# shellcheck disable=SC2086 # the words are the arguments
	"${BO[@]}" $args >/dev/null 2>"$T/usage.err"
	rc=$?
	set -e
	[ "$rc" = 2 ] || fail "'$args': exit $rc, want 2: $(cat "$T/usage.err")"
done
ok "checkpoint and restore usage errors exit 2"
set +e
err=$("${BO[@]}" checkpoint --image-path "$T/img" nope 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && [[ $err == *"container nope does not exist"* ]] ||
	fail "checkpoint of a missing container: exit $rc: $err"
ok "checkpoint of a missing container names it (exit 1)"

# --- a stand-in criu: records its arguments; restore starts a sleep ---------
mkdir -p "$T/fake"
cat >"$T/fake/criu" <<'FAKE'
#!/bin/sh
echo "$*" >>"$FAKE_LOG"
work=
for a; do case $a in --work-dir=*) work=${a#--work-dir=} ;; esac; done
case $1 in
check) exit 0 ;;
dump) exit 0 ;;
restore)
	if [ -n "${FAKE_FAIL:-}" ]; then
		echo "(00.1) Error (criu/cr-restore.c:1): boom" >"$work/restore.log"
		exit 1
	fi
	for a; do case $a in --pidfile=*) pidf=${a#--pidfile=} ;; esac; done
	sleep 60 </dev/null >/dev/null 2>&1 &
	echo $! >"$pidf"
	exit 0 ;;
esac
exit 1
FAKE
chmod +x "$T/fake/criu"
export FAKE_LOG=$T/fake.log
FBO=(env PATH="$T/fake:$PATH" "${BO[@]}")

bundle ck sh -c 'sleep 60'
(cd "$T/ck" && "${BO[@]}" run --detach ck)
pid=$("${BO[@]}" state ck | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
"${FBO[@]}" checkpoint --image-path "$T/img" --work-path "$T/work" \
	--leave-running --tcp-established --ext-unix-sk --file-locks ck
args=$(tail -n 1 "$FAKE_LOG")
for want in "dump " "--tree $pid" "--images-dir=$T/img" "--work-dir=$T/work" \
	"--root=$T/ck/rootfs" "--leave-running" "--tcp-established" \
	"--ext-unix-sk" "--file-locks" "--manage-cgroups=soft" \
	"--external=mnt[/proc/keys]:/proc/keys"; do
	[[ $args == *"$want"* ]] || fail "criu dump arguments lack '$want': $args"
done
[ -d "$T/img" ] || fail "checkpoint did not make the image folder"
expect_eq "--leave-running: the container still runs" \
	"$("${BO[@]}" state ck | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')" running
ok "checkpoint passes runc's options to criu dump"
"${FBO[@]}" checkpoint --image-path "$T/img" ck
[ -z "$("${BO[@]}" list -q)" ] || fail "checkpoint without --leave-running left: $("${BO[@]}" list -q)"
ok "checkpoint without --leave-running stops and deletes the container"

# restore: criu restore with the bundle's root, the process recorded.
set +e
err=$(cd "$T/ck" && FAKE_FAIL=1 "${FBO[@]}" restore --image-path "$T/img" -d ck 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && [[ $err == *"criu restore failed"*"boom"* ]] ||
	fail "failed restore: exit $rc: $err"
[ -z "$("${BO[@]}" list -q)" ] || fail "a failed restore left a container"
grep -qs "$CGPARENT/ck" /proc/self/mountinfo && fail "a failed restore left a mount"
ok "a failed criu restore is reported with criu's error and leaves nothing"
(cd "$T/ck" && "${FBO[@]}" restore --image-path "$T/img" --pid-file "$T/ck.pid" -d ck)
args=$(tail -n 1 "$FAKE_LOG")
for want in "restore " "--restore-detached" "--images-dir=$T/img" \
	"--root=$ROOT/ck/criu-root" "--external=mnt[/proc/keys]:/dev/null"; do
	[[ $args == *"$want"* ]] || fail "criu restore arguments lack '$want': $args"
done
rpid=$(cat "$T/ck.pid")
expect_eq "restore records criu's process" \
	"$("${BO[@]}" state ck | python3 -c 'import json, sys; s = json.load(sys.stdin); print(s["status"], s["pid"])')" "running $rpid"
grep -q "$CGPARENT/ck" "/proc/$rpid/cgroup" || fail "restored process outside the container's cgroup: $(cat "/proc/$rpid/cgroup")"
ok "restore runs criu in the container's cgroup"
"${BO[@]}" delete --force ck
gone() { ! grep -qs '^State:.*[RSD]' "/proc/$rpid/status"; }
for _ in $(seq 50); do gone && break; sleep 0.1; done
gone || fail "delete left the restored process $rpid"
ok "delete removes the restored container"
