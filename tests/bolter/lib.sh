# shellcheck shell=bash
# Shared helpers for tests/integration/test_bolter_*.sh: a temporary
# directory with a busybox bundle (tests/bolter/mkbundle.sh), a private
# --root, and a cleanup that deletes every container the test left (and so
# their cgroups).  BOLTER comes from ctest's environment.
set -euo pipefail

: "${BOLTER:?run through ctest (BOLTER=path/to/bolter)}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: bolter's tests need root"; exit 77; }
T=$(mktemp -d /tmp/korhal-bolter.XXXXXX)
# A user namespace's root (an unprivileged host uid) must reach the bundle.
chmod 711 "$T"
ROOT=$T/state
BO=("$BOLTER" --root "$ROOT")
# Each test's containers get a cgroup parent of their own: tests run in
# parallel under one ctest cgroup, and bundles of the same name in two tests
# must not share (and delete, and kill in) one cgroup.
CGPARENT=korhal-test-${T##*.}
EDIT=$HERE/editspec.py

bolter_cleanup() {
	local rc=$? id
	if [ -d "$ROOT" ]; then
		for id in $("${BO[@]}" list -q 2>/dev/null); do
			"${BO[@]}" delete --force "$id" >/dev/null 2>&1 || true
		done
	fi
	find /sys/fs/cgroup -maxdepth 8 -type d -name "$CGPARENT" \
		-exec rmdir {} + 2>/dev/null || true
	if [ "$rc" -ne 0 ] || [ -n "${KORHAL_KEEP:-}" ]; then
		echo "--- kept in $T ---"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap bolter_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# bundle NAME [ARGS...]: a fresh busybox bundle in $T/NAME running ARGS.
bundle() {
	local name=$1
	shift
	"$HERE/mkbundle.sh" "$T/$name" "$@" >/dev/null || exit $?
	# Keep test containers inside the test's own cgroup (relative path).
	"$EDIT" "$T/$name/config.json" "s['linux']['cgroupsPath'] = '$CGPARENT/$name'"
}

# edit NAME 'PYTHON': edits $T/NAME/config.json (see editspec.py).
edit() { "$EDIT" "$T/$1/config.json" "$2"; }

# run_in NAME [bolter run options]: runs the bundle to exit; prints its
# output; the exit status is the container's.
run_in() {
	local name=$1
	shift
	(cd "$T/$name" && "${BO[@]}" run "$@" "$name")
}

# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; ok "$1"; }
