#!/usr/bin/env bash
# Builds the sysroot that cmake/toolchain-<ARCH>.cmake links against, for
# one Debian architecture: armel (ARMv5, soft-float), armhf, arm64, mipsel
# or mips (big-endian).  As shared/MACHINE-NOTES.md describes, Debian's
# -dev packages for ARCH are fetched with a private apt state (they do not
# co-install multiarch with the host's) and unpacked with dpkg -x.
#
# Debian 12 has no big-endian mips port (its last release with mips was
# 11, and deb.debian.org no longer carries it), so for mips the few static
# libraries the device build needs are built here from Debian 12's source
# packages (`apt-get source` through the same private apt state, with a
# deb-src line) with Debian's mips-linux-gnu-gcc, and installed into the
# sysroot with the same layout a .deb would give.  That build has no
# OpenSSL; its TLS is mbedTLS (the device builds' TLS client,
# CR_TLS_BACKEND=mbedtls), also built from Debian's source, and OCI layers
# need zlib and zstd (archon reads the tar itself).
#
# armel-musl and x86_64-musl: the device's libraries built the same way
# from Debian 12's sources, against musl instead of glibc (musl-dev:armel
# from Debian's armel archive; the host's musl-dev for x86_64), -Os with
# function and data sections, for the smallest static device binary
# (docs/packaging.md, "musl builds").  The sysroot carries its compiler
# driver, musl/bin/musl-gcc: Debian's <triple>-gcc with a specs file that
# swaps glibc for the musl tree beside it (musl/include, with the
# kernel's headers, and musl/lib), always static.  Like mips it has zlib
# (archon's gzip layers) and TLS from mbedTLS (scripts/mbedtls-config.h);
# no OpenSSL.
# cmake/toolchain-armel-musl.cmake and toolchain-x86_64-musl.cmake use it.
#
#   scripts/cross-sysroot.sh ARCH [DIR]
#
# Default DIR: <repo>/.sysroot-ARCH when that is a folder (an older
# checkout's), else $KORHAL_CACHE/sysroot-ARCH (KORHAL_CACHE defaults to
# ${XDG_CACHE_HOME:-~/.cache}/korhal), which <repo>/.sysroot-ARCH then
# points to: the sysroots (downloads, and mips's libraries built from
# source, minutes of CPU) are kept per user, not per clone, so a fresh
# clone's test command reuses them; a lock keeps two runs from filling one
# at the same time.
#
# Layout under DIR: lists/ and cache/ (the private apt state), debs/ (the
# downloaded packages, kept as a cache; for mips src/ and build/ instead)
# and sysroot/ (the unpacked tree).  A second run with the same package
# list does nothing.  Set KORHAL_SYSROOT_REFRESH=1 to fetch the package
# lists and packages again.  Prints the sysroot path as its last line.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
arch=${1:-}
case $arch in
armel) triple=arm-linux-gnueabi ;;
armhf) triple=arm-linux-gnueabihf ;;
arm64) triple=aarch64-linux-gnu ;;
mipsel) triple=mipsel-linux-gnu ;;
mips) triple=mips-linux-gnu ;;
armel-musl) triple=arm-linux-gnueabi ;;
x86_64-musl) triple=x86_64-linux-gnu ;;
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "cross-sysroot: unknown architecture '$arch' (known: armel armhf arm64 mipsel mips armel-musl x86_64-musl)" >&2
	exit 2
	;;
esac
link=$root/.sysroot-$arch
if [ -d "$link" ] && [ ! -L "$link" ]; then
	default_dir=$link
else
	default_dir=${KORHAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/korhal}/sysroot-$arch
fi
[ "$arch" != armel ] || default_dir=${KORHAL_ARMEL_DIR:-$default_dir}
dir=${2:-$default_dir}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# The toolchain files look in <repo>/.sysroot-ARCH.
if [ "$dir" != "$link" ] && { [ -L "$link" ] || [ ! -e "$link" ]; }; then
	ln -sfn "$dir" "$link"
fi
exec 9>"$dir/.korhal-lock"
flock 9
sysroot=$dir/sysroot
# Debian's name of the architecture (apt), and the C library.
debarch=${arch%-musl}
[ "$debarch" != x86_64 ] || debarch=amd64
libc=glibc
[ "${arch%-musl}" = "$arch" ] || libc=musl

# Runtime packages come with their -dev packages for the .a files and .pc
# files; libevent's static archives are split across its runtime packages.
pkgs=(
	libsodium-dev libsodium23
	libevent-dev libevent-2.1-7 libevent-core-2.1-7 libevent-pthreads-2.1-7
	libevent-extra-2.1-7
	liblmdb-dev liblmdb0
	libprotobuf-c-dev libprotobuf-c1
	libjson-c-dev libjson-c5
	libseccomp-dev libseccomp2
	check libsubunit-dev libsubunit0
	# the TLS client of device builds (common/carrier/tls, CR_TLS_BACKEND=mbedtls:
	# the agent's TCP fallback and archon's https origins): libmbedtls.a,
	# libmbedx509.a and libmbedcrypto.a are in libmbedtls-dev, the runtime
	# packages hold what its .so links point to
	libmbedtls-dev libmbedtls14 libmbedx509-1 libmbedcrypto7
	# OpenSSL, for -DCR_TLS_BACKEND=openssl device builds (bench/device-size.sh
	# compares): libssl.a and libcrypto.a; libevent_openssl.a comes with
	# libevent-dev
	libssl-dev libssl3
	# archon: https origins use the TLS client above; OCI layers are read
	# by archon's own tar reader over zlib (gzip) and libzstd.
	# Left out, see device-agent/archon/CMakeLists.txt: libcurl (its
	# static archive needs Kerberos GSS-API and p11-kit, shipped without
	# .a files) and libdivsufsort (no .a at all).
	zlib1g-dev libzstd-dev libzstd1
	# not linked: the architecture's static busybox (sysroot/bin/busybox),
	# the program of tests/cross/test_bolter.sh's foreign-architecture
	# container
	busybox-static
)

# mips: built from source, see mips_from_source below.
if [ "$arch" = mips ]; then
	pkgs=(libsodium libevent lmdb protobuf-c json-c check libseccomp libzstd zlib mbedtls)
fi
# musl: the same (zlib for OCI layers, mbedTLS for the device's TLS).
if [ "$libc" = musl ]; then
	pkgs=(libsodium libevent lmdb protobuf-c json-c check libseccomp libzstd zlib mbedtls)
fi

stamp=$sysroot/.korhal-sysroot
want="packages: ${pkgs[*]}"
# musl: the recipe (and mbedTLS's configuration) too.
[ "$libc" = glibc ] || want="$want; $libc, with busybox, small 3, mbedtls config $(sha256sum "$root/scripts/mbedtls-config.h" | cut -c1-16)"
if [ "${KORHAL_SYSROOT_REFRESH:-0}" != 1 ] && [ -f "$stamp" ] &&
	[ "$(head -n 1 "$stamp")" = "$want" ]; then
	echo "$arch sysroot up to date: $sysroot"
	echo "$sysroot"
	exit 0
fi

for tool in apt-get dpkg "$triple-gcc"; do
	command -v "$tool" >/dev/null || { echo "cross-sysroot: $tool not found" >&2; exit 1; }
done

mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs"
apt_opts=(-q -oAPT::Sandbox::User=root "-oAPT::Architecture=$debarch" "-oAPT::Architectures=$debarch"
	"-oDir::State::Lists=$dir/lists" "-oDir::Cache=$dir/cache")

# apt-get update with retries: a mirror in the middle of a sync answers
# an index of the wrong size ("Mirror sync in progress?") for a while.
# After the last try, lists already fetched are used if there are any.
apt_update() {
	local try
	for try in 1 2 3; do
		apt-get "${apt_opts[@]}" update && return 0
		echo "cross-sysroot: apt-get update failed (try $try of 3)" >&2
		[ "$try" = 3 ] || sleep $((try * 10))
	done
	ls "$dir/lists/"*_Packages* >/dev/null 2>&1 || ls "$dir/lists/"*_Sources* >/dev/null 2>&1
}

# Unpack (or install) into a fresh tree, then move it into place, so an
# interrupted run never leaves a half-built sysroot behind a valid stamp.
tmp=$dir/sysroot.tmp
rm -rf "$tmp"
mkdir -p "$tmp"

from_debs() {
	# Fetch the package lists only when we have none or a refresh was asked.
	if [ "${KORHAL_SYSROOT_REFRESH:-0}" = 1 ] ||
		! ls "$dir/lists/"*_Packages* >/dev/null 2>&1; then
		echo "cross-sysroot: apt-get update ($arch, private state in $dir)"
		apt_update
	fi

	# Download whatever is not in debs/ yet.  Downloaded file names carry
	# the version, so a package counts as present when any .deb of it
	# for this architecture is.
	local missing=() p deb
	for p in "${pkgs[@]}"; do
		if ! ls "$dir/debs/${p}_"*_"$arch".deb >/dev/null 2>&1; then
			missing+=("$p")
		fi
	done
	if [ "${KORHAL_SYSROOT_REFRESH:-0}" = 1 ]; then
		rm -f "$dir/debs/"*.deb
		missing=("${pkgs[@]}")
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		echo "cross-sysroot: downloading ${missing[*]}"
		if ! (cd "$dir/debs" && apt-get "${apt_opts[@]}" download "${missing[@]}"); then
			# The lists may be stale (a superseded version is gone from
			# the archive): fetch them again and retry once.
			apt_update
			(cd "$dir/debs" && apt-get "${apt_opts[@]}" download "${missing[@]}")
		fi
	fi

	for p in "${pkgs[@]}"; do
		# Newest first if the cache holds more than one version.
		deb=$(ls -t "$dir/debs/${p}_"*_"$arch".deb | head -n 1)
		dpkg -x "$deb" "$tmp"
	done
	(cd "$dir/debs" && ls -1 *.deb) >"$dir/contents"
}

# musl: the C library and the compiler driver, into $tmp/musl (see the
# top): musl-dev's headers and archives, the kernel's headers (musl's
# headers need them and have none: Bolter and libseccomp include
# <linux/...>), and musl/bin/musl-gcc, which finds the tree beside itself
# so that the sysroot can move.
musl_tree() {
	local m=$tmp/musl gcc=$triple-gcc inc lib kinc deb
	mkdir -p "$m/bin" "$m/include" "$m/lib"
	case $arch in
	x86_64-musl)
		inc=/usr/include/x86_64-linux-musl lib=/usr/lib/x86_64-linux-musl
		kinc=(/usr/include/linux /usr/include/asm-generic /usr/include/x86_64-linux-gnu/asm)
		[ -f "$lib/libc.a" ] || { echo "cross-sysroot: $lib/libc.a not found (Debian: musl-dev)" >&2; return 1; }
		;;
	armel-musl)
		mkdir -p "$dir/debs"
		# musl-dev, and busybox-static for tests/cross/test_bolter.sh's
		# container as in the armel sysroot (not linked).
		for deb in musl-dev busybox-static; do
			ls "$dir/debs/${deb}_"*_armel.deb >/dev/null 2>&1 && continue
			echo "cross-sysroot: downloading $deb:armel"
			(cd "$dir/debs" && apt-get "${apt_opts[@]}" download "$deb") || return 1
		done
		deb=$(ls -t "$dir/debs/busybox-static_"*_armel.deb | head -n 1)
		rm -rf "$dir/busybox"
		dpkg -x "$deb" "$dir/busybox"
		install -D -m 755 "$dir/busybox/bin/busybox" "$tmp/bin/busybox"
		basename "$deb" >>"$dir/contents"
		deb=$(ls -t "$dir/debs/musl-dev_"*_armel.deb | head -n 1)
		rm -rf "$dir/musl-dev"
		dpkg -x "$deb" "$dir/musl-dev"
		inc=$dir/musl-dev/usr/include/arm-linux-musleabi lib=$dir/musl-dev/usr/lib/arm-linux-musleabi
		kinc=(/usr/arm-linux-gnueabi/include/linux /usr/arm-linux-gnueabi/include/asm
			/usr/arm-linux-gnueabi/include/asm-generic)
		basename "$deb" >>"$dir/contents"
		;;
	esac
	cp -a "$inc/." "$m/include/"
	cp -a "$lib/"*.o "$lib/"*.a "$m/lib/"
	cp -a "${kinc[@]}" "$m/include/"
	# Debian's musl-gcc.specs with the paths made relative to the tree
	# (KORHAL_MUSL, set by the driver) and always static, non-PIE.
	cat >"$m/musl-gcc.specs" <<'SPECS'
%rename cpp_options old_cpp_options

*cpp_options:
-nostdinc -isystem %:getenv(KORHAL_MUSL /include) -isystem include%s %(old_cpp_options)

*cc1:
%(cc1_cpu) -nostdinc -isystem %:getenv(KORHAL_MUSL /include) -isystem include%s

*link_libgcc:
-L%:getenv(KORHAL_MUSL /lib) -L .%s

*libgcc:
libgcc.a%s %:if-exists(libgcc_eh.a%s)

*startfile:
%:getenv(KORHAL_MUSL /lib/crt1.o) %:getenv(KORHAL_MUSL /lib/crti.o) crtbeginT.o%s

*endfile:
crtend.o%s %:getenv(KORHAL_MUSL /lib/crtn.o)

*link:
-nostdlib %{rdynamic:-export-dynamic}

SPECS
	cat >"$m/bin/musl-gcc" <<DRIVER
#!/bin/sh
# $gcc against the musl tree beside this script (scripts/cross-sysroot.sh
# $arch): static executables, no PIE unless asked.
KORHAL_MUSL=\$(CDPATH= cd -- "\$(dirname -- "\$0")/.." && pwd)
export KORHAL_MUSL
exec $gcc -fno-pie "\$@" -specs "\$KORHAL_MUSL/musl-gcc.specs" -static -no-pie
DRIVER
	chmod 755 "$m/bin/musl-gcc"
	echo 'int main(void) { return 0; }' >"$dir/musl-probe.c"
	"$m/bin/musl-gcc" -o "$dir/musl-probe" "$dir/musl-probe.c" || {
		echo "cross-sysroot: the musl driver cannot link a program" >&2
		return 1
	}
	rm -f "$dir/musl-probe" "$dir/musl-probe.c"
}

# mips: Debian 12's source packages, cross-compiled static (no shared
# libraries, no programs, no tests of theirs) into $tmp/usr with Debian's
# multiarch layout.
from_source() {
	local host=$triple cc=$triple-gcc recipe='' evopts=() zopts=()
	local cflags="-O2 -g0 -ffunction-sections -fdata-sections"
	if [ "$libc" = musl ]; then
		# For size; configure's host names the C library.
		cflags="-Os -g0 -ffunction-sections -fdata-sections"
		case $arch in
		armel-musl) host=arm-linux-musleabi ;;
		x86_64-musl) host=x86_64-linux-musl ;;
		esac
		cc=$tmp/musl/bin/musl-gcc
		# For size, what the device does not need: libevent's debug
		# mode and malloc hooks; zstd's faster but larger decoders
		# (one Huffman and one sequence decoder are kept, not two).
		evopts=(--disable-debug-mode --disable-malloc-replacement)
		zopts=(HUF_FORCE_DECOMPRESS_X1=1 ZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT=1)
		recipe=" ($libc, small 3)"
	fi
	local p s b id cfg=(--host="$host" --prefix=/usr --libdir="/usr/lib/$triple"
		--disable-shared --enable-static)
	# Debian's patches touch Makefile.am and configure.ac after the
	# tarball's generated files: keep make from regenerating them with
	# another automake (Debian's build runs autoreconf; only libsodium,
	# which ships no configure, needs it here).
	local make=(make -j"${KORHAL_JOBS:-2}" ACLOCAL=: AUTOMAKE=: AUTOCONF=: AUTOHEADER=:)
	for p in dpkg-source autoreconf libtoolize make cmake gperf; do
		command -v "$p" >/dev/null || { echo "cross-sysroot: $p not found (dpkg-dev, autoconf, automake, libtool, gperf)" >&2; return 1; }
	done
	mkdir -p "$dir/parts" "$dir/src"
	if [ ! -s "$dir/sources.list" ]; then
		# The first Debian mirror of the system's sources that answers
		# (the first may be a dated snapshot that does not), as deb-src.
		local m mirror=
		for m in $(grep -rhoE 'https?://[^ ]+' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null |
			grep -i debian | grep -v -- -security | sort -u); do
			if curl -sfI -m 10 "$m/dists/bookworm/Release" >/dev/null 2>&1; then
				mirror=$m
				break
			fi
		done
		[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
		printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm main\n' \
			"$mirror" >"$dir/sources.list"
		# armel-musl: musl-dev itself comes from the binary archive.
		[ "$arch" != armel-musl ] ||
			printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm main\n' \
				"$mirror" >>"$dir/sources.list"
	fi
	apt_opts+=("-oDir::Etc::SourceList=$dir/sources.list" "-oDir::Etc::SourceParts=$dir/parts")
	if [ "${KORHAL_SYSROOT_REFRESH:-0}" = 1 ] || ! ls "$dir/lists/"*_Sources* >/dev/null 2>&1 ||
		{ [ "$arch" = armel-musl ] && ! ls "$dir/lists/"*_Packages* >/dev/null 2>&1; }; then
		echo "cross-sysroot: apt-get update (deb-src, private state in $dir)"
		apt_update
	fi
	for p in "${pkgs[@]}"; do
		if [ "${KORHAL_SYSROOT_REFRESH:-0}" = 1 ] || ! ls -d "$dir/src/$p"-*/ >/dev/null 2>&1; then
			rm -rf "${dir:?}/src/$p"-* "${dir:?}/src/$p"_*
			echo "cross-sysroot: apt-get source $p"
			(cd "$dir/src" && apt-get "${apt_opts[@]}" source "$p") >>"$dir/src/apt.log" 2>&1 || {
				echo "cross-sysroot: apt-get source $p failed (network?), see $dir/src/apt.log" >&2
				return 1
			}
		fi
	done
	mkdir -p "$dir/build"
	(cd "$dir/src" && ls -1d */) >"$dir/contents"
	[ "$libc" != musl ] || musl_tree || return 1
	for p in "${pkgs[@]}"; do
		s=$(ls -d "$dir/src/$p"-*/ | head -n 1)
		s=${s%/}
		b=$dir/build/$p
		id=$(basename "$s")$recipe
		# mbedtls: with Korhal's configuration (scripts/mbedtls-config.h),
		# whose hash is part of the stamp.
		[ "$p" != mbedtls ] || id="$id $(sha256sum "$root/scripts/mbedtls-config.h" | cut -c1-16)"
		# Each package installs into its own dest/, kept with a stamp
		# naming its source: a later run (another package added, a
		# failed one fixed) builds only what is missing.
		if [ -f "$b/.korhal-built" ] && [ "$(cat "$b/.korhal-built")" = "$id" ]; then
			cp -a "$b/dest/." "$tmp/"
			continue
		fi
		rm -rf "$b"
		mkdir -p "$b/dest"
		echo "cross-sysroot: building $p for $arch ($(basename "$s"))"
		# In the background and waited for: a subshell on the left of ||
		# would run with set -e switched off.
		(
			set -e
			cd "$b"
			export CC=$cc AR=$triple-ar RANLIB=$triple-ranlib CFLAGS=$cflags
			case $p in
			libsodium)
				# Debian's source has no configure script (its build runs
				# autoreconf, as here).
				[ -x "$s/configure" ] || (cd "$s" && autoreconf -fi >autoreconf.log 2>&1)
				"$s/configure" "${cfg[@]}" --disable-pie --disable-ssp >configure.log
				"${make[@]}" -C src/libsodium install DESTDIR="$b/dest" >make.log
				"${make[@]}" install-pkgconfigDATA DESTDIR="$b/dest" >>make.log
				;;
			libevent)
				"$s/configure" "${cfg[@]}" --disable-openssl --disable-samples \
					--disable-libevent-regress --disable-doxygen-html "${evopts[@]}" >configure.log
				"${make[@]}" install DESTDIR="$b/dest" >make.log
				;;
			check)
				"$s/configure" "${cfg[@]}" --enable-subunit=no --disable-timeout-tests \
					--disable-build-docs >configure.log
				"${make[@]}" -C lib >make.log
				"${make[@]}" -C src install DESTDIR="$b/dest" >>make.log
				"${make[@]}" install-pcdataDATA DESTDIR="$b/dest" >>make.log
				# check.h includes it; generated at the top of the build.
				"${make[@]}" install-includeHEADERS DESTDIR="$b/dest" >>make.log
				# Debian's check.pc (a Debian patch) links -lcheck_pic,
				# which Debian's package ships beside libcheck.a.
				cp "$b/dest/usr/lib/$triple/libcheck.a" "$b/dest/usr/lib/$triple/libcheck_pic.a"
				;;
			libseccomp)
				"$s/configure" "${cfg[@]}" >configure.log
				"${make[@]}" -C include install DESTDIR="$b/dest" >make.log
				"${make[@]}" -C src install DESTDIR="$b/dest" >>make.log
				"${make[@]}" install-pkgconfDATA DESTDIR="$b/dest" >>make.log
				;;
			json-c)
				cmake -S "$s" -B . -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_C_COMPILER="$CC" \
					-DCMAKE_AR="$(command -v "$AR")" -DCMAKE_RANLIB="$(command -v "$RANLIB")" \
					-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="$cflags" \
					-DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DBUILD_TESTING=OFF \
					-DBUILD_APPS=OFF -DDISABLE_WERROR=ON -DCMAKE_INSTALL_PREFIX=/usr \
					-DCMAKE_INSTALL_LIBDIR="lib/$triple" >configure.log
				"${make[@]}" install DESTDIR="$b/dest" >make.log
				;;
			libzstd)
				"${make[@]}" -C "$s/lib" libzstd.a ZSTD_LEGACY_SUPPORT=0 "${zopts[@]}" \
					BUILD_DIR="$b" >make.log
				make -C "$s/lib" install-static install-pc install-includes \
					ZSTD_LEGACY_SUPPORT=0 PREFIX=/usr LIBDIR="/usr/lib/$triple" \
					DESTDIR="$b/dest" >>make.log
				make -C "$s/lib" clean >/dev/null
				;;
			mbedtls)
				# The three static libraries, configured for Korhal's TLS
				# client alone (scripts/mbedtls-config.h: no server, no
				# self-tests, only the ciphers and curves it offers), which
				# is installed as include/mbedtls/config.h with them.
				cp "$root/scripts/mbedtls-config.h" "$s/include/mbedtls/config.h"
				cmake -S "$s" -B . -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_C_COMPILER="$CC" \
					-DCMAKE_AR="$(command -v "$AR")" -DCMAKE_RANLIB="$(command -v "$RANLIB")" \
					-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="$cflags" \
					-DUSE_SHARED_MBEDTLS_LIBRARY=OFF -DUSE_STATIC_MBEDTLS_LIBRARY=ON \
					-DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF -DMBEDTLS_FATAL_WARNINGS=OFF \
					-DCMAKE_INSTALL_PREFIX=/usr -DLIB_INSTALL_DIR="/usr/lib/$triple" \
					>configure.log
				"${make[@]}" install DESTDIR="$b/dest" >make.log
				;;
			lmdb)
				# Upstream's Makefile builds the tools too: only the library.
				local robust=() objs=(mdb.o midl.o)
				if [ "$libc" = musl ]; then
					# musl's pthread_mutexattr_setrobust fails with
					# ENOSYS where the kernel has no robust futex list
					# (qemu-user implements none), and LMDB then opens
					# nothing: there, plain mutexes (glibc does the same
					# silently).  Real kernels keep robust ones.
					robust=(-Dpthread_mutexattr_setrobust=korhal_mutexattr_setrobust)
					printf '%s\n' '#include <errno.h>' '#include <pthread.h>' \
						'int korhal_mutexattr_setrobust(pthread_mutexattr_t *a, int r);' \
						'int korhal_mutexattr_setrobust(pthread_mutexattr_t *a, int r)' \
						'{ int rc = pthread_mutexattr_setrobust(a, r); return rc == ENOSYS ? 0 : rc; }' \
						>robust.c
					$CC $CFLAGS -c robust.c
					objs+=(robust.o)
				fi
				$CC $CFLAGS "${robust[@]}" -pthread -c "$s/libraries/liblmdb/mdb.c" "$s/libraries/liblmdb/midl.c"
				$AR rcs liblmdb.a "${objs[@]}"
				install -D -m 644 liblmdb.a "$b/dest/usr/lib/$triple/liblmdb.a"
				install -D -m 644 "$s/libraries/liblmdb/lmdb.h" "$b/dest/usr/include/lmdb.h"
				;;
			protobuf-c)
				# Only the runtime library: its configure wants protobuf's C++
				# compiler for protoc-c, which the host has already.
				$CC $CFLAGS -I"$s" -c "$s/protobuf-c/protobuf-c.c"
				$AR rcs libprotobuf-c.a protobuf-c.o
				install -D -m 644 libprotobuf-c.a "$b/dest/usr/lib/$triple/libprotobuf-c.a"
				install -D -m 644 "$s/protobuf-c/protobuf-c.h" "$b/dest/usr/include/protobuf-c/protobuf-c.h"
				mkdir -p "$b/dest/usr/lib/$triple/pkgconfig"
				printf '%s\n' prefix=/usr "libdir=/usr/lib/$triple" includedir=/usr/include \
					'' 'Name: libprotobuf-c' 'Description: Protocol Buffers C library' \
					"Version: $(basename "$s" | sed 's/^protobuf-c-//')" \
					'Libs: -L${libdir} -lprotobuf-c' 'Cflags: -I${includedir}' \
					>"$b/dest/usr/lib/$triple/pkgconfig/libprotobuf-c.pc"
				;;
			zlib)
				# The library's sources only (zlib's configure builds in
				# its source folder).
				local f objs=()
				for f in adler32 crc32 deflate infback inffast inflate inftrees trees \
					zutil compress uncompr gzclose gzlib gzread gzwrite; do
					$CC $CFLAGS -D_LARGEFILE64_SOURCE=1 -DHAVE_HIDDEN -c "$s/$f.c"
					objs+=("$f.o")
				done
				$AR rcs libz.a "${objs[@]}"
				install -D -m 644 libz.a "$b/dest/usr/lib/$triple/libz.a"
				install -D -m 644 "$s/zlib.h" "$b/dest/usr/include/zlib.h"
				install -D -m 644 "$s/zconf.h" "$b/dest/usr/include/zconf.h"
				mkdir -p "$b/dest/usr/lib/$triple/pkgconfig"
				printf '%s\n' prefix=/usr "libdir=/usr/lib/$triple" includedir=/usr/include \
					'' 'Name: zlib' 'Description: zlib compression library' \
					"Version: $(sed -n 's/^#define ZLIB_VERSION "\(.*\)"/\1/p' "$s/zlib.h")" \
					'Libs: -L${libdir} -lz' 'Cflags: -I${includedir}' \
					>"$b/dest/usr/lib/$triple/pkgconfig/zlib.pc"
				;;
			esac
		) &
		wait $! || {
			echo "cross-sysroot: building $p failed; logs in $b" >&2
			tail -n 20 "$b"/*.log >&2 2>/dev/null
			return 1
		}
		echo "$id" >"$b/.korhal-built"
		cp -a "$b/dest/." "$tmp/"
	done
	# Library folder libtool archives name host paths; nothing needs them.
	rm -f "$tmp/usr/lib/$triple/"*.la
}

# Called outside any condition, so that set -e holds inside (and in the
# build steps' subshells).
if [ "$arch" = mips ] || [ "$libc" = musl ]; then
	from_source
else
	from_debs
fi

# Absolute symlinks (lib.so -> /usr/lib/...) would point into the host;
# make them relative to the sysroot.
while IFS= read -r -d '' link; do
	target=$(readlink "$link")
	case $target in
	/*) ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$tmp$target")" "$link" ;;
	esac
done < <(find "$tmp" -type l -print0)

printf '%s\n' "$want" >"$tmp/.korhal-sysroot"
cat "$dir/contents" >>"$tmp/.korhal-sysroot"
rm -rf "$sysroot"
mv "$tmp" "$sysroot"
echo "$arch sysroot ready: $sysroot"
echo "$sysroot"
