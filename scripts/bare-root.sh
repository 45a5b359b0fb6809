#!/usr/bin/env bash
# Proves the README on a bare system: builds a minimal Debian 12 root
# (debootstrap --variant=minbase bookworm, kept between runs as a cache),
# copies a clean copy of the project's committed tree in, and runs there, as
# a new user would on a machine where no package was ever installed:
#
#   1. ./scripts/demo.sh               the README's first command, as written
#   2. ./scripts/test.sh --deps-only   the package-install step of the second
#
# A missing package, a dpkg-query quirk or an unstated tool then fails here
# instead of on a user's machine.  Needs root (debootstrap, chroot, mounts)
# and Debian's package archive; everything lives under build-bareroot/ in the
# project (or $KORHAL_BAREROOT_DIR): base/ is the cached root, run/ the root
# of the last run (removed at the start of the next).  The chroot runs in its
# own mount and PID namespaces, so nothing it starts outlives it, and with a
# policy-rc.d that keeps Debian from starting services (nginx, the registry)
# in the host's network namespace.
#
#   ./scripts/bare-root.sh      exit 0: both steps passed; 77: not root or no
#                               debootstrap and it cannot be installed; else 1
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${KORHAL_BAREROOT_DIR:-$root/build-bareroot}
base=$dir/base
run=$dir/run
. "$root/scripts/deps.sh"

say() { printf 'bare-root: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
	say "needs root (debootstrap, chroot): skipped"
	exit 77
fi
if ! command -v debootstrap >/dev/null; then
	korhal_install_packages debootstrap || { say "debootstrap is missing and could not be installed"; exit 77; }
fi
if ! git -C "$root" rev-parse --verify -q HEAD >/dev/null; then
	say "$root is not a git checkout: nothing committed to copy"
	exit 1
fi

# The host's Debian mirrors, as apt is set up here (deb822 or one-line form).
mirrors() {
	{
		sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
		sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]*\).*/\2/p' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
	} | tr ' ' '\n' | grep -i debian | sort -u
}
main_mirror=
for m in $(mirrors | grep -v -- -security); do
	if curl -sfI -m 20 "$m/dists/bookworm/Release" >/dev/null 2>&1 ||
		python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=20)' \
			"$m/dists/bookworm/Release" >/dev/null 2>&1; then
		main_mirror=$m
		break
	fi
done
[ -n "$main_mirror" ] || main_mirror=http://deb.debian.org/debian
security_mirror=$(mirrors | grep -- -security | head -n 1)

mkdir -p "$dir"
if [ ! -e "$base/.korhal-complete" ]; then
	say "debootstrap --variant=minbase bookworm from $main_mirror (once; cached in $base)"
	rm -rf "$base"
	if ! debootstrap --variant=minbase bookworm "$base" "$main_mirror" >"$dir/debootstrap.log" 2>&1; then
		say "debootstrap failed; the end of $dir/debootstrap.log:"
		tail -n 20 "$dir/debootstrap.log"
		exit 1
	fi
	touch "$base/.korhal-complete"
fi

say "a fresh copy of the root in $run"
rm -rf "$run"
cp -a "$base/." "$run/" || exit 1
{
	echo "deb $main_mirror bookworm main"
	echo "deb $main_mirror bookworm-updates main"
	[ -z "$security_mirror" ] || echo "deb $security_mirror bookworm-security main"
} >"$run/etc/apt/sources.list"
cp /etc/resolv.conf "$run/etc/resolv.conf" 2>/dev/null || true
printf '#!/bin/sh\nexit 101\n' >"$run/usr/sbin/policy-rc.d"
chmod 0755 "$run/usr/sbin/policy-rc.d"
# What a user gets from `git clone`: the committed tree, nothing built.
mkdir -p "$run/src/korhal"
git -C "$root" archive HEAD | tar -x -C "$run/src/korhal" || exit 1

say "in the bare root: ./scripts/demo.sh, then ./scripts/test.sh --deps-only"
# shellcheck disable=SC2016 # expanded inside the chroot
unshare --mount --pid --fork --propagation private bash -c '
	set -e
	r=$1
	mount -t proc proc "$r/proc"
	mount --rbind /dev "$r/dev"
	mount --rbind /sys "$r/sys"
	mount -t tmpfs tmpfs "$r/tmp"
	exec chroot "$r" env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		bash -c "cd /src/korhal && ./scripts/demo.sh && ./scripts/test.sh --deps-only"
' bare-root "$run" >"$dir/run.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	say "FAILED (exit $rc); the end of $dir/run.log:"
	tail -n 40 "$dir/run.log"
	exit 1
fi
grep -q '^demo: OK' "$dir/run.log" || { say "the demo did not say 'demo: OK'"; tail -n 20 "$dir/run.log"; exit 1; }
say "OK: the README's demo and the test command's package step pass on a bare Debian 12 root"
rm -rf "$run"
