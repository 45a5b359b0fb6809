#!/usr/bin/env bash
# bench/device-size.sh: the stripped size of the static armel device
# binary (korhal-device: carrier-agent, archon and bolter in one), with
# everything in and with -DCR_DEVICE_TLS=OFF (no TCP/TLS fallback, no
# https origins), and what each library and the largest objects cost in
# it, from the link map.  Writes bench/results/device-size.txt.
#
#   bench/device-size.sh [BUILD_TLS [BUILD_NOTLS [BUILD_OPENSSL [BUILD_MUSL [BUILD_MUSL_NOTLS]]]]]
#
# Defaults: build-armel (the armel leg's build: TLS with mbedTLS, the
# device builds' CR_TLS_BACKEND), build-armel-notls, and build-armel-openssl
# (-DCR_TLS_BACKEND=openssl, for comparison: the TLS client device builds
# had before); each is configured and built (korhal-device only) when
# missing, with cmake/toolchain-armel.cmake (scripts/armel-sysroot.sh
# first).  Then the same against musl instead of glibc, everything in and
# without TLS, with the libraries built small from Debian's sources
# (build-armel-musl, the armel leg's musl build, and build-armel-musl-notls;
# cmake/toolchain-armel-musl.cmake, scripts/cross-sysroot.sh armel-musl
# first: minutes of CPU once; KORHAL_DEVICE_MUSL=0 leaves them out).
# Budgets and targets: bench/device-budget.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
tls_dir=${1:-build-armel}
notls_dir=${2:-build-armel-notls}
ossl_dir=${3:-build-armel-openssl}
musl_dir=${4:-build-armel-musl}
musl_notls_dir=${5:-build-armel-musl-notls}
musl=${KORHAL_DEVICE_MUSL:-1}
out=bench/results/device-size.txt
budget() { sed -n "s/^$1 //p" bench/device-budget; }

build() { # build DIR TLS(ON|OFF) [BACKEND [LIBC]]
	local tc=armel
	[ "${4:-glibc}" = glibc ] || tc=armel-$4
	if [ ! -f "$1/CMakeCache.txt" ]; then
		if [ "$tc" = armel ]; then
			scripts/armel-sysroot.sh >/dev/null
		else
			scripts/cross-sysroot.sh "$tc" >/dev/null
		fi
		cmake -S . -B "$1" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-$tc.cmake" \
			-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCR_WERROR=ON -DCR_DEVICE_ONLY=ON \
			-DCR_SANITIZE=OFF -DCR_FUZZ=OFF -DCR_TESTS=OFF -DCR_DEVICE_TLS="$2" \
			-DAR_WITH_HTTP=ON ${3:+"-DCR_TLS_BACKEND=$3"} >/dev/null
	fi
	nice cmake --build "$1" -j2 --target korhal-device >/dev/null
}

report() { # report DIR LABEL TARGET CEILING WHO-ENFORCES
	local exe=$1/device-agent/device/korhal-device size
	arm-linux-gnueabi-strip -o "$exe.stripped" "$exe"
	size=$(stat -c %s "$exe.stripped")
	rm -f "$exe.stripped"
	printf '\n## %s (%s)\n\n' "$2" "$1"
	printf 'stripped korhal-device: %d bytes (%.2f MB)\n' "$size" "$(echo "$size / 1000000" | bc -l)"
	printf 'issue 16 target: %d bytes; gap: %d bytes (%.2f MB)\n' "$3" $((size - $3)) \
		"$(echo "($size - $3) / 1000000" | bc -l)"
	if [ "$4" -gt 0 ]; then
		printf 'ceiling (bench/device-budget): %d bytes, %s\n' "$4" "$5"
	fi
	printf '\nper library, from the link map (bytes in the file; .bss apart):\n\n'
	python3 bench/linkmap-size.py "$1/device-agent/device/korhal-device.map" --objects 20
}

build "$tls_dir" ON
build "$notls_dir" OFF
build "$ossl_dir" ON openssl
if [ "$musl" != 0 ]; then
	build "$musl_dir" ON "" musl
	build "$musl_notls_dir" OFF "" musl
fi
mkdir -p bench/results
# Before $out is rewritten (a committed result would count as a change).
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ":!$out" || echo ' (+ local changes)')"
{
	echo "# korhal-device, static armel (ARMv5TE soft-float; glibc, then musl), stripped"
	echo
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit: $commit"
	echo "machine: $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
	echo "compiler: $(arm-linux-gnueabi-gcc --version | head -n 1)"
	echo "flags: -Os -ffunction-sections -fdata-sections, -Wl,--gc-sections (our code;" \
		"with glibc Debian's .a files are as Debian built them; with musl the" \
		"libraries are built from Debian 12's sources by scripts/cross-sysroot.sh" \
		"armel-musl with the same flags)"
	echo "before korhal-device (387c56b, three programs, -O2, measured the same way):" \
		"carrier-agent 5,599,700 + archon 5,475,488 + bolter 1,006,368 = 12,081,556 bytes"
	report "$tls_dir" "glibc, everything in (TLS fallback and https: mbedTLS)" \
		"$(budget target_tls)" "$(budget ceiling_tls)" "enforced by scripts/test.sh's armel leg"
	report "$notls_dir" "glibc, -DCR_DEVICE_TLS=OFF (no TCP/TLS fallback, no https)" \
		"$(budget target_notls)" "$(budget ceiling_notls)" \
		"reported here only (the armel leg builds with TLS)"
	report "$ossl_dir" "glibc, everything in, TLS with OpenSSL (-DCR_TLS_BACKEND=openssl), for comparison" \
		"$(budget target_tls)" 0 ""
	if [ "$musl" != 0 ]; then
		echo
		echo "musl: $(sed -n 's/^musl-dev_\(.*\)_armel.deb$/musl-dev \1 (Debian 12)/p' \
			"$(readlink -f .sysroot-armel-musl)/contents" 2>/dev/null)"
		report "$musl_dir" "musl, everything in (TLS fallback and https: mbedTLS)" \
			"$(budget target_tls)" "$(budget ceiling_musl)" \
			"enforced by scripts/test.sh's armel leg"
		report "$musl_notls_dir" "musl, -DCR_DEVICE_TLS=OFF (no TCP/TLS fallback, no https)" \
			"$(budget target_notls)" "$(budget ceiling_musl_notls)" \
			"reported here only (the armel leg builds with TLS)"
	fi
} >"$out"
cat "$out"
