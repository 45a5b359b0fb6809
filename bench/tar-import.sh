#!/usr/bin/env bash
# bench/tar-import.sh: how long `archon import` takes for one real
# multi-MB OCI layer (a tar of /usr/share/perl by default, gzip -6 and zstd -3), with
# archon's own tar reader against an archon built with libarchive.
# Figures only, best of three runs each, on whatever else the machine is
# doing; writes bench/results/tar-import.txt.
#
#   bench/tar-import.sh NEW_ARCHON OLD_ARCHON [SOURCE_DIR]
#
# OLD_ARCHON: a host build of a commit before the tar reader (867126d),
# e.g. `git archive 867126d | tar -x -C /tmp/base` and a build there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
new=${1:?usage: bench/tar-import.sh NEW_ARCHON OLD_ARCHON [SOURCE_DIR]}
old=${2:?usage: bench/tar-import.sh NEW_ARCHON OLD_ARCHON [SOURCE_DIR]}
src=${3:-/usr/share/perl}
out=$root/bench/results/tar-import.txt
T=$(mktemp -d /tmp/tar-import.XXXXXX)
trap 'rm -rf "$T"' EXIT
OCI="python3 $root/tests/integration/archon_oci.py"

tar -C "$src" -cf "$T/layer.tar" .
gzip -6 -c "$T/layer.tar" >"$T/layer.tar.gz"
zstd -q -3 "$T/layer.tar" -o "$T/layer.tar.zst"
entries=$(tar -tf "$T/layer.tar" | wc -l)
for c in tar tar.gz tar.zst; do
	$OCI layout "$T/lay-$c" "$T/layer.$c"
done

# best NAME ARCHON LAYOUT: the shortest wall time of three imports into a
# fresh store, in seconds.
best() {
	local b= i t0 t1 s
	for i in 1 2 3; do
		rm -rf "$T/store"
		t0=$(date +%s.%N)
		"$1" --store "$T/store" import "oci:$2" bench/img:1 >/dev/null
		t1=$(date +%s.%N)
		s=$(echo "$t1 - $t0" | bc -l)
		if [ -z "$b" ] || [ "$(echo "$s < $b" | bc -l)" = 1 ]; then b=$s; fi
	done
	printf '%.2f' "$b"
}

{
	echo "# archon import of one OCI layer: own tar reader against libarchive"
	echo
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit: $(git -C "$root" rev-parse --short HEAD)"
	echo "machine: $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores (shared)"
	echo "layer: tar of $src, $entries entries, $(stat -c %s "$T/layer.tar") bytes;" \
		"gzip -6 $(stat -c %s "$T/layer.tar.gz"), zstd -3 $(stat -c %s "$T/layer.tar.zst")"
	echo "seconds, best of 3 (wall; import includes chunking, hashing and the store's writes)"
	echo
	printf '%-10s %12s %12s\n' layer "own reader" libarchive
	for c in tar tar.gz tar.zst; do
		printf '%-10s %12s %12s\n' "$c" "$(best "$new" "$T/lay-$c")" "$(best "$old" "$T/lay-$c")"
	done
} >"$out"
cat "$out"
