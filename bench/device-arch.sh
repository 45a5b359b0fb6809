#!/usr/bin/env bash
# bench/device-arch.sh: the stripped static device binary (korhal-device)
# on every architecture the test command builds (armel, armhf, arm64,
# mipsel, mips, with glibc; armel with musl too), with the five libraries that cost most in each (from the
# link map), beside the peers the issue names that can be measured here:
# crun and the mosquitto client library as Debian 12 ships them for this
# host (dynamic: their libraries come on top), and the figures that cannot
# be measured offline, said as such.  Writes bench/results/device-arch.txt.
#
#   bench/device-arch.sh [TREE]
#
# TREE (default: this checkout) holds the build-ARCH folders the test
# command's armel and cross legs leave; an architecture whose binary is
# missing is configured and built there (korhal-device only) as the cross
# leg does.  bench/device-size.sh has the whole per-library table for armel.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tree=$(cd "${1:-$root}" && pwd)
out=$root/bench/results/device-arch.txt
mkdir -p "$root/bench/results"

triple() {
	case $1 in
	armel) echo arm-linux-gnueabi ;;
	armhf) echo arm-linux-gnueabihf ;;
	arm64) echo aarch64-linux-gnu ;;
	mipsel) echo mipsel-linux-gnu ;;
	mips) echo mips-linux-gnu ;;
	esac
}

# build ARCH DIR: korhal-device for ARCH in DIR, configured as the cross
# leg configures it (scripts/test.sh cross_one).
build() {
	local -a opts=(-DAR_WITH_HTTP=ON)
	[ "$1" != mips ] || opts=(-DCR_DEVICE_TLS=OFF -DAR_WITH_HTTP=OFF)
	"$root/scripts/cross-sysroot.sh" "$1" >/dev/null
	cmake -S "$root" -B "$2" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-$1.cmake" \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCR_WERROR=ON -DCR_DEVICE_ONLY=ON \
		-DCR_SANITIZE=OFF -DCR_FUZZ=OFF -DCR_TESTS=OFF "${opts[@]}" >/dev/null
	nice cmake --build "$2" -j2 --target korhal-device >/dev/null
}

{
	echo "# korhal-device per architecture, static, stripped"
	echo
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit: $(git -C "$tree" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "machine: $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
	echo
	printf '%-10s %12s %9s  %s\n' arch bytes MB "largest libraries (bytes in the file)"
	for arch in armel armhf arm64 mipsel mips armel-musl; do
		t=$(triple "${arch%-musl}")
		dir=$tree/build-$arch
		# The musl build is the armel leg's (scripts/test.sh armel_musl);
		# it is reported when that leg left it.
		[ "$arch" != armel-musl ] || [ -x "$dir/device-agent/device/korhal-device" ] || continue
		exe=$dir/device-agent/device/korhal-device
		[ -x "$exe" ] || build "$arch" "$dir"
		"$t-strip" -o "$exe.stripped" "$exe"
		size=$(stat -c %s "$exe.stripped")
		rm -f "$exe.stripped"
		libs=$(python3 "$root/bench/linkmap-size.py" "$exe.map" |
			awk 'NR > 1 && $1 != "total" && $2 ~ /^[0-9]+$/ { printf "%s%s %d", (n++ ? ", " : ""), $1, $2 } n == 5 { exit }')
		tls=with
		grep -q '^CR_DEVICE_TLS:BOOL=OFF' "$dir/CMakeCache.txt" && tls=without
		printf '%-10s %12d %9.2f  (%s TLS) %s\n' "$arch" "$size" "$(echo "$size / 1000000" | bc -l)" "$tls" "$libs"
	done
	echo
	echo "## peers"
	echo
	if crun=$(command -v crun); then
		printf '%-44s %9d bytes (%s)\n' "crun (Debian 12, $(uname -m))" "$(stat -c %s "$crun")" \
			"dynamic: libc, libseccomp, libcap, libyajl, libsystemd on top"
	fi
	for so in /usr/lib/*/libmosquitto.so.1; do
		[ -e "$so" ] || continue
		printf '%-44s %9d bytes (%s)\n' "mosquitto client library (Debian 12)" "$(stat -L -c %s "$so")" \
			"shared library: libc, libssl, libcrypto on top"
	done
	echo "devguard carrier agent: 2.7 MB static x86_64, the issue's figure (not measured here: no internet)"
	echo "Tailscale's small build: not measured (no internet, no Go toolchain offline)"
} | tee "$out"
