#!/bin/bash
# The hashes of the embedded packages, recomputed from the tree:
#   deploy/embedded-hashes.sh check   compare; exit 1 naming each mismatch
#   deploy/embedded-hashes.sh update  write them into the packages
#   deploy/embedded-hashes.sh tarball FILE   write the release tarball
# The release is deploy/embedded-release (version, commit); its tarball is
# `git archive --prefix=korhal-VERSION/ COMMIT | gzip -9n`, the asset
# uploaded as .../releases/download/vVERSION/korhal-VERSION.tar.gz.
# Checked: OpenWrt PKG_HASH, Buildroot korhal.hash (tarball and LICENSE),
# Yocto SRC_URI[sha256sum] and LIC_FILES_CHKSUM (md5 of LICENSE).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
mode=${1:-check}

version=$(sed -n 's/^version=//p' "$here/embedded-release")
commit=$(sed -n 's/^commit=//p' "$here/embedded-release")
owrt=$here/openwrt/korhal/Makefile
br_mk=$here/buildroot/package/korhal/korhal.mk
br_hash=$here/buildroot/package/korhal/korhal.hash
yocto=$here/yocto/meta-korhal/recipes-connectivity/korhal/korhal_$version.bb

make_tarball() { # make_tarball FILE
	git -C "$root" archive --format=tar --prefix="korhal-$version/" "$commit" |
		gzip -9n >"$1"
}

case $mode in
tarball) make_tarball "${2:?tarball FILE}"; exit 0 ;;
check | update) ;;
*) echo "usage: $0 check|update|tarball FILE" >&2; exit 2 ;;
esac

lic_sha=$(sha256sum "$root/LICENSE" | cut -d' ' -f1)
lic_md5=$(md5sum "$root/LICENSE" | cut -d' ' -f1)
tar_sha=""
if git -C "$root" cat-file -e "$commit^{commit}" 2>/dev/null; then
	tmp=$(mktemp)
	make_tarball "$tmp"
	tar_sha=$(sha256sum "$tmp" | cut -d' ' -f1)
	rm -f "$tmp"
else
	echo "embedded-hashes: commit $commit is not in this tree (no git, or a" \
		"shallow clone): the tarball hashes are not checked" >&2
fi

bad=0
# expect FILE WHAT GOT WANT
expect() {
	if [ "$3" != "$4" ]; then
		echo "embedded-hashes: $1: $2 is '$3', the tree gives '$4'" >&2
		bad=1
	fi
}

[ -f "$yocto" ] || { echo "embedded-hashes: no recipe $yocto for version $version" >&2; exit 1; }
expect "$owrt" PKG_VERSION "$(sed -n 's/^PKG_VERSION:=//p' "$owrt")" "$version"
expect "$br_mk" KORHAL_VERSION "$(sed -n 's/^KORHAL_VERSION = //p' "$br_mk")" "$version"

if [ "$mode" = update ]; then
	sed -i "s|^\(LIC_FILES_CHKSUM = \"file://LICENSE;md5=\)[0-9a-f]*\"|\1$lic_md5\"|" "$yocto"
	printf '# Locally computed (deploy/embedded-hashes.sh)\nsha256  %s  korhal-%s.tar.gz\nsha256  %s  LICENSE\n' \
		"${tar_sha:?cannot update without the commit}" "$version" "$lic_sha" >"$br_hash"
	sed -i "s|^PKG_HASH:=.*|PKG_HASH:=$tar_sha|" "$owrt"
	sed -i "s|^\(SRC_URI\[sha256sum\] = \"\)[0-9a-f]*\"|\1$tar_sha\"|" "$yocto"
fi

expect "$yocto" "LIC_FILES_CHKSUM md5" \
	"$(sed -n 's|^LIC_FILES_CHKSUM = "file://LICENSE;md5=\([0-9a-f]*\)"$|\1|p' "$yocto")" "$lic_md5"
expect "$br_hash" "sha256 of LICENSE" \
	"$(awk '$1 == "sha256" && $3 == "LICENSE" {print $2}' "$br_hash")" "$lic_sha"
# Buildroot's format: 'sha256', two spaces, the hash, two spaces, the file.
if grep -v '^#' "$br_hash" | grep -vqE '^(sha256|sha512|md5|sha1)  [0-9a-f]+  [^ ]+$'; then
	echo "embedded-hashes: $br_hash: a line is not 'TYPE  HASH  FILE' (two spaces)" >&2
	bad=1
fi
if [ -n "$tar_sha" ]; then
	expect "$owrt" PKG_HASH "$(sed -n 's/^PKG_HASH:=//p' "$owrt")" "$tar_sha"
	expect "$br_hash" "sha256 of korhal-$version.tar.gz" \
		"$(awk -v f="korhal-$version.tar.gz" '$1 == "sha256" && $3 == f {print $2}' "$br_hash")" "$tar_sha"
	expect "$yocto" "SRC_URI[sha256sum]" \
		"$(sed -n 's|^SRC_URI\[sha256sum\] = "\([0-9a-f]*\)"$|\1|p' "$yocto")" "$tar_sha"
fi
exit "$bad"
