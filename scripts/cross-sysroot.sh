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
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "cross-sysroot: unknown architecture '$arch' (known: armel armhf arm64 mipsel mips)" >&2
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

stamp=$sysroot/.korhal-sysroot
want="packages: ${pkgs[*]}"
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
apt_opts=(-q -oAPT::Sandbox::User=root "-oAPT::Architecture=$arch" "-oAPT::Architectures=$arch"
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

# mips: Debian 12's source packages, cross-compiled static (no shared
# libraries, no programs, no tests of theirs) into $tmp/usr with Debian's
# multiarch layout.
from_source() {
	local p s b id cfg=(--host="$triple" --prefix=/usr --libdir="/usr/lib/$triple"
		--disable-shared --enable-static)
	local cflags="-O2 -g0 -ffunction-sections -fdata-sections"
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
	fi
	apt_opts+=("-oDir::Etc::SourceList=$dir/sources.list" "-oDir::Etc::SourceParts=$dir/parts")
	if [ "${KORHAL_SYSROOT_REFRESH:-0}" = 1 ] || ! ls "$dir/lists/"*_Sources* >/dev/null 2>&1; then
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
	for p in "${pkgs[@]}"; do
		s=$(ls -d "$dir/src/$p"-*/ | head -n 1)
		s=${s%/}
		b=$dir/build/$p
		id=$(basename "$s")
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
			export CC=$triple-gcc AR=$triple-ar RANLIB=$triple-ranlib CFLAGS=$cflags
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
					--disable-libevent-regress --disable-doxygen-html >configure.log
				"${make[@]}" install DESTDIR="$b/dest" >make.log
				;;
			check)
				"$s/configure" "${cfg[@]}" --enable-subunit=no --disable-timeout-tests \
					--disable-build-docs >configure.log
				"${make[@]}" -C lib >make.log
				"${make[@]}" -C src install DESTDIR="$b/dest" >>make.log
				"${make[@]}" install-pcdataDATA DESTDIR="$b/dest" >>make.log
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
					-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="$cflags" \
					-DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DBUILD_TESTING=OFF \
					-DBUILD_APPS=OFF -DDISABLE_WERROR=ON -DCMAKE_INSTALL_PREFIX=/usr \
					-DCMAKE_INSTALL_LIBDIR="lib/$triple" >configure.log
				"${make[@]}" install DESTDIR="$b/dest" >make.log
				;;
			libzstd)
				"${make[@]}" -C "$s/lib" libzstd.a ZSTD_LEGACY_SUPPORT=0 \
					BUILD_DIR="$b" >make.log
				make -C "$s/lib" install-static install-pc install-includes \
					ZSTD_LEGACY_SUPPORT=0 PREFIX=/usr LIBDIR="/usr/lib/$triple" \
					DESTDIR="$b/dest" >>make.log
				make -C "$s/lib" clean >/dev/null
				;;
			zlib)
				# zlib's own configure (not autoconf): static only, the
				# cross compiler from CC; headers, libz.a and zlib.pc.
				"$s/configure" --static --prefix=/usr --libdir="/usr/lib/$triple" \
					--includedir=/usr/include >configure.log
				"${make[@]}" libz.a >make.log
				make install DESTDIR="$b/dest" >>make.log
				rm -rf "$b/dest/usr/share"
				;;
			mbedtls)
				# The three static libraries, configured for Korhal's TLS
				# client alone (scripts/mbedtls-config.h: no server, no
				# self-tests, only the ciphers and curves it offers), which
				# is installed as include/mbedtls/config.h with them.
				cp "$root/scripts/mbedtls-config.h" "$s/include/mbedtls/config.h"
				cmake -S "$s" -B . -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_C_COMPILER="$CC" \
					-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="$cflags" \
					-DUSE_SHARED_MBEDTLS_LIBRARY=OFF -DUSE_STATIC_MBEDTLS_LIBRARY=ON \
					-DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF -DMBEDTLS_FATAL_WARNINGS=OFF \
					-DCMAKE_INSTALL_PREFIX=/usr -DLIB_INSTALL_DIR="/usr/lib/$triple" \
					>configure.log
				"${make[@]}" install DESTDIR="$b/dest" >make.log
				;;
			lmdb)
				# Upstream's Makefile builds the tools too: only the library.
				$CC $CFLAGS -pthread -c "$s/libraries/liblmdb/mdb.c" "$s/libraries/liblmdb/midl.c"
				$AR rcs liblmdb.a mdb.o midl.o
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
if [ "$arch" = mips ]; then
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
