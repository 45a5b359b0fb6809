#!/usr/bin/env bash
# Builds the armel (ARMv5, soft-float) sysroot that cmake/toolchain-armel.cmake
# links against, as shared/MACHINE-NOTES.md describes: Debian's armel -dev
# packages are fetched with a private apt state (they do not co-install
# multiarch with the host's) and unpacked with dpkg -x.
#
#   scripts/armel-sysroot.sh [DIR]     default DIR: <repo>/.sysroot-armel
#
# Layout under DIR: lists/ and cache/ (the private apt state), debs/ (the
# downloaded packages, kept as a cache) and sysroot/ (the unpacked tree).
# A second run with the same package list does nothing.  Set
# KORHAL_SYSROOT_REFRESH=1 to fetch the package lists and packages again.
# Prints the sysroot path as its last line.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-${KORHAL_ARMEL_DIR:-$root/.sysroot-armel}}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
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
	# the agent's TCP fallback (common/carrier/tls/src/tlsdgram.c): libssl.a and
	# libcrypto.a; libevent_openssl.a comes with libevent-dev
	libssl-dev libssl3
	# archon: https origins use libevent + OpenSSL (above).  libarchive
	# (OCI layers) with the .a files of its Libs.private; libxml2 only
	# satisfies -lxml2: the xar reader that needs it (and ICU) is never
	# linked.  Left out, see device-agent/archon/CMakeLists.txt: libcurl
	# (its static archive needs Kerberos GSS-API and p11-kit, shipped
	# without .a files) and libdivsufsort (no .a at all).
	libarchive-dev libarchive13 liblzma-dev nettle-dev libacl1-dev
	liblz4-dev libbz2-dev zlib1g-dev libxml2-dev
	libzstd-dev libzstd1
)

stamp=$sysroot/.korhal-sysroot
want="packages: ${pkgs[*]}"
if [ "${KORHAL_SYSROOT_REFRESH:-0}" != 1 ] && [ -f "$stamp" ] &&
	[ "$(head -n 1 "$stamp")" = "$want" ]; then
	echo "armel sysroot up to date: $sysroot"
	echo "$sysroot"
	exit 0
fi

for tool in apt-get dpkg; do
	command -v "$tool" >/dev/null || { echo "armel-sysroot: $tool not found" >&2; exit 1; }
done

mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs"
apt_opts=(-q -oAPT::Sandbox::User=root -oAPT::Architecture=armel -oAPT::Architectures=armel
	"-oDir::State::Lists=$dir/lists" "-oDir::Cache=$dir/cache")

# Fetch the package lists only when we have none or a refresh was asked.
if [ "${KORHAL_SYSROOT_REFRESH:-0}" = 1 ] ||
	! ls "$dir/lists/"*_Packages* >/dev/null 2>&1; then
	echo "armel-sysroot: apt-get update (armel, private state in $dir)"
	apt-get "${apt_opts[@]}" update
fi

# Download whatever is not in debs/ yet.  Downloaded file names carry the
# version, so a package counts as present when any armel .deb of it is.
missing=()
for p in "${pkgs[@]}"; do
	if ! ls "$dir/debs/${p}_"*_armel.deb >/dev/null 2>&1; then
		missing+=("$p")
	fi
done
if [ "${KORHAL_SYSROOT_REFRESH:-0}" = 1 ]; then
	rm -f "$dir/debs/"*.deb
	missing=("${pkgs[@]}")
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "armel-sysroot: downloading ${missing[*]}"
	if ! (cd "$dir/debs" && apt-get "${apt_opts[@]}" download "${missing[@]}"); then
		# The lists may be stale (a superseded version is gone from the
		# archive): fetch them again and retry once.
		apt-get "${apt_opts[@]}" update
		(cd "$dir/debs" && apt-get "${apt_opts[@]}" download "${missing[@]}")
	fi
fi

# Unpack into a fresh tree, then move it into place, so an interrupted run
# never leaves a half-built sysroot behind a valid stamp.
tmp=$dir/sysroot.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
for p in "${pkgs[@]}"; do
	# Newest first if the cache holds more than one version.
	deb=$(ls -t "$dir/debs/${p}_"*_armel.deb | head -n 1)
	dpkg -x "$deb" "$tmp"
done

# Absolute symlinks (lib.so -> /usr/lib/...) would point into the host;
# make them relative to the sysroot.
while IFS= read -r -d '' link; do
	target=$(readlink "$link")
	case $target in
	/*) ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$tmp$target")" "$link" ;;
	esac
done < <(find "$tmp" -type l -print0)

printf '%s\n' "$want" >"$tmp/.korhal-sysroot"
(cd "$dir/debs" && ls -1 *.deb) >>"$tmp/.korhal-sysroot"
rm -rf "$sysroot"
mv "$tmp" "$sysroot"
echo "armel sysroot ready: $sysroot"
echo "$sysroot"
