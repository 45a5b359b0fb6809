#!/usr/bin/env bash
# Runs crun's own black-box test suite (Debian 12's crun 1.8.1 source
# package, tests/test_*.py) against bolter-oci and against Debian's crun in
# the same run, and compares bolter's failures with the tree's list of
# expected failures (tests/crun/expected-failures.txt).
#
#   scripts/crun-suite.sh [BOLTER-OCI]     default: build/device-agent/bolter/bolter-oci
#
# The source package is fetched with `apt-get source` through a private apt
# state (its own sources list with a deb-src line, its own lists and cache
# under build-crun/apt), so the system's apt configuration is never touched;
# it is kept in build-crun/ and fetched only once.  The suite's static
# tests/init is built from tests/init.c.  Each test_*.py prints TAP; crun's
# own tests/run_tests.sh runs them the same way, one process per file, with
# OCI_RUNTIME naming the runtime and INIT the init binary.
#
# Debian's crun refuses the machine's hybrid cgroup layout while
# /sys/fs/cgroup/unified is mounted: it runs inside `unshare -m` with that
# mount removed (shared/MACHINE-NOTES.md).  Set KORHAL_CRUN_SKIP_CRUN=1 to
# run bolter only.
#
# Exit status: 0 when every bolter failure is expected, 1 when a case not in
# the list failed, 77 when the suite cannot be had (no network, no root).
# Prints one line per runtime: "crun-suite: RUNTIME: N ok, N not ok, N skipped".
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bolter=${1:-$root/build/device-agent/bolter/bolter-oci}
# The suite runs in folders of its own: make the path absolute (not
# resolved: bolter-oci is a symlink, and the name selects runc's CLI).
case $bolter in /*) ;; *) bolter=$PWD/$bolter ;; esac
cd "$root" || exit 1
dir=${KORHAL_CRUN_DIR:-$root/build-crun}
expected=$root/tests/crun/expected-failures.txt
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

note() { printf 'crun-suite: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
	note "not root: crun's suite creates containers as root; skipped"
	exit 77
fi
if [ ! -x "$bolter" ]; then
	note "no bolter-oci at $bolter (build it first)"
	exit 1
fi

# --- the source package, fetched once -------------------------------------
src=$(ls -d "$dir"/src/crun-*/ 2>/dev/null | head -n 1)
if [ -z "$src" ] || [ ! -f "$src/tests/init.c" ]; then
	for tool in apt-get dpkg-source; do
		command -v "$tool" >/dev/null || { note "$tool not found (dpkg-dev); skipped"; exit 77; }
	done
	apt=$dir/apt
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$dir/src"
	# A Debian mirror of the system's sources that answers (the first may
	# be a dated snapshot that does not), as a deb-src line.
	mirror=
	for m in $(grep -rhoE 'https?://[^ ]+' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null |
		grep -i debian | grep -v -- -security | sort -u) http://deb.debian.org/debian; do
		if curl -sfI -m 10 "$m/dists/bookworm/Release" >/dev/null 2>&1; then
			mirror=$m
			break
		fi
	done
	[ -n "$mirror" ] || { note "no Debian mirror answers (network?); skipped"; exit 77; }
	printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm main\n' \
		"$mirror" >"$apt/sources.list"
	apt_opts=(-q -oAPT::Sandbox::User=root "-oDir::State::Lists=$apt/lists"
		"-oDir::Cache=$apt/cache" "-oDir::Etc::SourceList=$apt/sources.list"
		"-oDir::Etc::SourceParts=$apt/parts")
	note "fetching crun's source package (private apt state in $apt)"
	if ! apt-get "${apt_opts[@]}" update >"$dir/apt.log" 2>&1 ||
		! (cd "$dir/src" && apt-get "${apt_opts[@]}" source crun=1.8.1-1+deb12u1 ||
			apt-get "${apt_opts[@]}" source crun) >>"$dir/apt.log" 2>&1; then
		note "cannot fetch crun's source package (network?); see $dir/apt.log; skipped"
		exit 77
	fi
	src=$(ls -d "$dir"/src/crun-*/ | head -n 1)
fi
src=${src%/}
tests=$src/tests

# --- the suite's init ------------------------------------------------------
if [ ! -x "$dir/init" ] || [ "$tests/init.c" -nt "$dir/init" ]; then
	# init.c includes the configure's config.h for two HAVE_ macros only.
	mkdir -p "$dir/inc"
	printf '#define HAVE_ERROR_H 1\n' >"$dir/inc/config.h"
	gcc -static -O2 -I"$dir/inc" -o "$dir/init" "$tests/init.c" ||
		{ note "cannot build tests/init"; exit 1; }
fi

# run_suite NAME RUNTIME [WRAPPER...]: runs every test_*.py, TAP output in
# $dir/NAME/FILE.tap; the summary in $dir/NAME.result (CASE STATUS per line).
run_suite() {
	local name=$1 rt=$2 t f
	shift 2
	rm -rf "${dir:?}/$name"
	mkdir -p "$dir/$name/run"
	# The suite keeps its containers' state under its working folder.
	for t in "$tests"/test_*.py; do
		f=$(basename "$t" .py)
		(cd "$dir/$name/run" && "$@" env OCI_RUNTIME="$rt" INIT="$dir/init" \
			timeout 600 python3 "$t") >"$dir/$name/$f.tap" 2>"$dir/$name/$f.err"
	done
	# TAP lines: "ok N - name", "not ok N - name", "ok N - name #SKIP".
	cat "$dir/$name"/*.tap | sed -nE \
		-e 's/^ok [0-9]+ - ([^ #]+).*#[[:space:]]*SKIP.*/\1 skip/Ip; t' \
		-e 's/^not ok [0-9]+ - ([^ #]+).*/\1 fail/p; t' \
		-e 's/^ok [0-9]+ - ([^ #]+).*/\1 ok/p' >"$dir/$name.result"
	printf 'crun-suite: %s: %d ok, %d not ok, %d skipped\n' "$name" \
		"$(grep -c ' ok$' "$dir/$name.result")" "$(grep -c ' fail$' "$dir/$name.result")" \
		"$(grep -c ' skip$' "$dir/$name.result")"
}

# test_delete.py's test_simple_delete freezes its container's init in a
# v1 freezer cgroup "frozen" and deletes the container with --force: the
# SIGKILL waits behind the freeze, and when the test made "frozen" itself
# its rmdir fails on the frozen process, failing the case for any runtime.
# So "frozen" is made beforehand (the test then leaves it alone), and after
# each runtime's run the process is thawed (it dies of the pending
# SIGKILL), the cgroups it was left in are removed, and "frozen" too.
freezer=/sys/fs/cgroup/freezer/frozen
frozen_before=0
[ -d "$freezer" ] && frozen_before=1
prepare_frozen() {
	[ -d "${freezer%/*}" ] && mkdir -p "$freezer" 2>/dev/null
	return 0
}
thaw_frozen() {
	local pid paths=() p i
	[ -d "$freezer" ] || return 0
	while read -r pid; do
		while IFS=: read -r _ _ p; do
			[ "$p" = / ] || paths+=("$p")
		done <"/proc/$pid/cgroup"
	done <"$freezer/tasks"
	echo THAWED >"$freezer/freezer.state" 2>/dev/null
	for i in $(seq 50); do
		[ -s "$freezer/tasks" ] || break
		sleep 0.1
	done
	for p in "${paths[@]}"; do
		case $p in
		*/test-tmp*)
			for i in /sys/fs/cgroup/*"$p" /sys/fs/cgroup/memory/*"$p"; do
				[ -d "$i" ] && rmdir "$i" 2>/dev/null
			done
			;;
		esac
	done
	[ $frozen_before -eq 1 ] || rmdir "$freezer" 2>/dev/null
	return 0
}

if [ "${KORHAL_CRUN_SKIP_CRUN:-0}" != 1 ] && command -v crun >/dev/null; then
	# crun in its own mount namespace without the v2 hierarchy.
	prepare_frozen
	run_suite crun "$(command -v crun)" unshare -m --propagation private \
		sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' sh
	thaw_frozen
fi
prepare_frozen
run_suite bolter "$bolter"
thaw_frozen

# --- compare with the expected failures ------------------------------------
unexpected=0
while read -r c st; do
	[ "$st" = fail ] || continue
	if ! grep -qE "^$c([[:space:]]|$)" "$expected"; then
		note "UNEXPECTED FAILURE: $c (output in $dir/bolter/)"
		unexpected=1
	fi
done <"$dir/bolter.result"
while read -r c reason; do
	case $c in '' | '#'*) continue ;; esac
	# A flaky case ("CASE  flaky: why") may pass or fail.
	if [ "${reason%%:*}" != flaky ] && grep -q "^$c ok$" "$dir/bolter.result"; then
		note "$c passes now: remove it from tests/crun/expected-failures.txt"
	fi
done <"$expected"
[ $unexpected -eq 0 ] && note "bolter: every failure is an expected one"
exit $unexpected
