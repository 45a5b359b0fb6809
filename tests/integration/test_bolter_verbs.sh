#!/usr/bin/env bash
# bolter's docker-style verbs and command-line convention: run of an image
# from a folder (no OCI config: the command comes from ARGS), archon's own
# errors passed through (a store held by another archon is not "missing"),
# stop of a missing container, stop then ps at once, ps -a, logs -f,
# run --rm (foreground and detached), rmi; --help, --version, and the exit
# statuses of docs/cli-conventions.md.
. "$(dirname "$0")/../bolter/lib.sh"
: "${ARCHON:?run through ctest (ARCHON=path/to/archon)}"
export ARCHON ARCHON_STORE=$T/store BOLTER_DATA=$T/data
OCI=$(dirname "$BOLTER")/bolter-oci
verbs_cleanup() {
	exec 9>&- 2>/dev/null || true
	"${BO[@]}" rm -f $(ls "$T/data/containers" 2>/dev/null) >/dev/null 2>&1 || true
	bolter_cleanup
}
trap verbs_cleanup EXIT

# expect_status WHAT WANT CMD...: runs CMD, its stdout in $T/out, stderr in
# $T/err, and checks the exit status.
expect_status() {
	local what=$1 want=$2 rc
	shift 2
	set +e
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	set -e
	[ "$rc" = "$want" ] || fail "$what: exit $rc, want $want; stderr: $(cat "$T/err")"
}
has() { grep -qF -- "$2" "$T/$1" || fail "$1 lacks '$2': $(cat "$T/$1")"; }
lacks() { ! grep -qiF -- "$2" "$T/$1" || fail "$1 has '$2': $(cat "$T/$1")"; }

"$HERE/mkbundle.sh" --layout "$T/layout" "$T/b" true >/dev/null
"${BO[@]}" pull "oci:$T/layout:latest" bb:1 >/dev/null
# An image from a folder: the busybox root file system, no OCI config.
"${BO[@]}" pull "$T/b/rootfs" folder:1 >/dev/null

# --- an image from a folder: no config, the command from ARGS --------------
expect_status "run folder image without a command" 2 "${BO[@]}" run --name f0 folder:1
has err "no OCI config"
has err "bolter run folder:1 COMMAND"
has err "Try 'bolter --help'."
lacks err "no version"
[ ! -e "$T/data/containers/f0" ] || fail "a refused run left its container"
ok "run of a folder image without ARGS says what is missing"
out=$("${BO[@]}" run --rm --name f1 folder:1 sh -c 'echo from-folder; pwd')
expect_eq "run of a folder image with ARGS" "$(echo $out)" "from-folder /"

# --- archon's own errors, not "missing" ------------------------------------
expect_status "run of a missing image" 1 "${BO[@]}" run nosuch:1 true
has err "no version nosuch:1 in the store"
exec 9>"$ARCHON_STORE/lock"
flock 9
expect_status "run while another archon writes the store" 1 "${BO[@]}" run --name l1 bb:1 true
exec 9>&-
has err "is busy: being written by pid"
lacks err "no version"
lacks err "no image"
ok "archon's error text is passed through"
# A device that serves its versions to peers (archon serve holds the store
# shared) still starts containers.
exec 9>"$ARCHON_STORE/lock"
flock -s 9
expect_status "run while archon serve reads the store" 0 "${BO[@]}" run --rm --name l2 bb:1 true
exec 9>&-
ok "a container starts while the store is shared with a reader (archon serve)"

# --- stop: a missing container fails; ps is right as soon as stop returns ---
expect_status "stop of a missing container" 1 "${BO[@]}" stop nosuch
has err "stop nosuch: no such container"
for n in 1 2 3; do
	# sh as the pid namespace's init ignores SIGTERM: stop must SIGKILL,
	# then wait for the process to be gone.
	"${BO[@]}" run -d --name s$n bb:1 sh -c 'while :; do sleep 0.1; done' >/dev/null
	"${BO[@]}" ps | grep -Eq "^s$n +bb:1 +running" || fail "ps: $("${BO[@]}" ps)"
	expect_eq "stop prints the name" "$("${BO[@]}" stop -t 0 s$n)" "s$n"
	"${BO[@]}" ps -a | grep -Eq "^s$n +bb:1 +stopped" || fail "ps -a right after stop: $("${BO[@]}" ps -a)"
	! "${BO[@]}" ps | grep -q "^s$n " || fail "ps right after stop lists s$n"
done
ok "stop waits for the process: ps and ps -a right at once"
expect_status "stop of one missing among others" 1 "${BO[@]}" stop s1 nosuch
has out s1
has err "no such container"

# --- logs -f ----------------------------------------------------------------
"${BO[@]}" run -d --name lg bb:1 sh -c 'echo first; sleep 1; echo second; sleep 1; echo third' >/dev/null
set +e
out=$(timeout 60 "${BO[@]}" logs -f lg)
rc=$?
set -e
expect_eq "logs -f returns when the container stops" "$rc" 0
expect_eq "logs -f follows to the end" "$(echo $out)" "first second third"
expect_status "logs of a missing container" 1 "${BO[@]}" logs nosuch
has err "no such container"

# --- run --rm ----------------------------------------------------------------
set +e
out=$("${BO[@]}" run --rm --name r1 bb:1 sh -c 'echo rm-out; exit 3')
rc=$?
set -e
expect_eq "run --rm: output" "$out" rm-out
expect_eq "run --rm: the container's exit status" "$rc" 3
[ ! -e "$T/data/containers/r1" ] || fail "run --rm left its folder"
! "${BO[@]}" ps -a | grep -q "^r1 " || fail "run --rm: ps -a still lists r1"
! "${BO[@]}" list -q | grep -qx r1 || fail "run --rm left the runtime state"
ok "run --rm removes the container when it exits"
"${BO[@]}" run -d --rm --name r2 bb:1 sh -c 'sleep 1' >/dev/null
[ -d "$T/data/containers/r2" ] || fail "run -d --rm: no container while it runs"
for _ in $(seq 300); do [ -e "$T/data/containers/r2" ] || break; sleep 0.1; done
[ ! -e "$T/data/containers/r2" ] || fail "run -d --rm: not removed 30 s after it exited"
! "${BO[@]}" list -q | grep -qx r2 || fail "run -d --rm left the runtime state"
ok "run -d --rm removes the container when it exits"

# --- rmi ----------------------------------------------------------------------
"${BO[@]}" rm s1 s2 s3 lg >/dev/null
"${BO[@]}" run --name keep bb:1 true
expect_status "rmi of an image a container uses" 1 "${BO[@]}" rmi bb:1
has err "container keep was made from it"
"${BO[@]}" images | grep -q '^bb:1 ' || fail "refused rmi removed the image"
"${BO[@]}" rm keep >/dev/null
expect_eq "rmi prints the image" "$("${BO[@]}" rmi bb:1)" bb:1
! "${BO[@]}" images | grep -q '^bb:1 ' || fail "images still lists bb:1"
"$ARCHON" verify >/dev/null || fail "the store does not verify after rmi"
expect_status "rmi of a missing image" 1 "${BO[@]}" rmi bb:1
has err "no version bb:1"
# -f: the container keeps running on its own links to the files.
"${BO[@]}" run -d --name kept folder:1 sh -c 'while :; do sleep 0.1; done' >/dev/null
expect_status "rmi -f of an image in use" 0 "${BO[@]}" rmi -f folder:1
"${BO[@]}" ps | grep -Eq '^kept +folder:1 +running' || fail "rmi -f: $("${BO[@]}" ps)"
[ -x "$T/data/containers/kept/rootfs/bin/busybox" ] || fail "rmi -f took the container's files"
"${BO[@]}" rm -f kept >/dev/null
ok "rmi"

# --- the command-line convention ----------------------------------------------
version=$(sed -n 's/^project(korhal VERSION \([0-9.]*\).*/\1/p' "$KORHAL_SRC/CMakeLists.txt")
expect_eq "bolter --version" "$("$BOLTER" --version)" "bolter $version"
expect_eq "bolter -V" "$("$BOLTER" -V)" "bolter $version"
expect_eq "bolter-oci --version keeps runc's form" "$("$OCI" --version | head -n 1)" "bolter-oci version $version"
"$OCI" --version | grep -q '^spec: ' || fail "bolter-oci --version: no spec line"
for v in "" run ps stop rm logs rmi pull images create start state kill delete list exec pause resume update events features; do
	for h in --help -h; do
		# shellcheck disable=SC2086
		expect_status "bolter $v $h" 0 "$BOLTER" $v $h
		grep -q '^usage: bolter' "$T/out" || fail "bolter $v $h: stdout: $(cat "$T/out")"
		[ ! -s "$T/err" ] || fail "bolter $v $h wrote to stderr: $(cat "$T/err")"
	done
done
grep -q "rmi" <(cd "$T" && "$BOLTER" --help) || fail "--help does not list rmi"
ok "--help and -h on stdout, exit 0, for each verb"
usage_case() {
	local prog=$1
	shift
	expect_status "$prog $*" 2 "$@"
	has err "Try '$prog --help'."
}
usage_case bolter "$BOLTER" --bogus
usage_case bolter "$BOLTER" nosuch
usage_case bolter "${BO[@]}" run
usage_case bolter "${BO[@]}" run --bogus bb:1
usage_case bolter "${BO[@]}" stop
usage_case bolter "${BO[@]}" stop -t soon s1
usage_case bolter "${BO[@]}" rm
usage_case bolter "${BO[@]}" logs
usage_case bolter "${BO[@]}" rmi
usage_case bolter "${BO[@]}" ps -x
usage_case bolter "${BO[@]}" pull
usage_case bolter "${BO[@]}" kill --frob x
usage_case bolter "${BO[@]}" create
usage_case bolter-oci "$OCI" --root "$ROOT" create
usage_case bolter-oci "$OCI" --root "$ROOT" stop x
ok "usage errors: exit 2 and a pointer to --help"
for c in "state nosuch" "delete nosuch" "kill nosuch" "rm nosuch" "logs nosuch" "stop nosuch"; do
	# shellcheck disable=SC2086
	expect_status "bolter $c" 1 "${BO[@]}" $c
	grep -q '^bolter: ' "$T/err" || fail "bolter $c: $(cat "$T/err")"
done
ok "runtime failures: exit 1 with the reason"
