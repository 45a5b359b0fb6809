#!/usr/bin/env bash
# Archon's device store: folder and OCI imports (gzip and zstd layers,
# whiteouts, opaque folders, hard links, oci-archive, docker-archive), the
# import safety rules (one case each: "..", absolute path, symlink escape,
# hardlink escape, device nodes when not root), three checked-out versions
# costing only their distinct files, gc and verify.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"
OCI="python3 $(dirname "$0")/archon_oci.py"
S=$T/store
ar() { "$ARCHON" --store "$S" "$@"; }

# --- OCI layout: two layers, gzip then zstd --------------------------------
$OCI tar "$T/l1.tar" d:bin f:bin/sh:shell d:etc f:etc/keep:k f:etc/gone:g \
	d:opq f:opq/old:o l:bin/ash:sh
gzip -k "$T/l1.tar"
$OCI tar "$T/l2.tar" w:etc/gone o:opq f:opq/new:n h:bin/hl:bin/sh f:etc/keep:k2
zstd -q "$T/l2.tar" -o "$T/l2.tar.zst"
$OCI layout "$T/img" "$T/l1.tar.gz" "$T/l2.tar.zst"
ar import "oci:$T/img:latest" img:1 >/dev/null || fail "oci import"
ar checkout img:1 "$T/c1"
[ "$(cat "$T/c1/etc/keep")" = k2 ] || fail "upper layer did not win"
[ ! -e "$T/c1/etc/gone" ] || fail "whiteout ignored"
[ ! -e "$T/c1/opq/old" ] && [ -f "$T/c1/opq/new" ] || fail "opaque folder ignored"
[ "$(readlink "$T/c1/bin/ash")" = sh ] || fail "symlink"
[ "$(stat -c %i "$T/c1/bin/hl")" = "$(stat -c %i "$T/c1/bin/sh")" ] || fail "hard link"
[ "$(stat -c %a "$T/c1/bin/sh")" = 755 ] || fail "mode"
ar show img:1 | grep -q '"Cmd": *\["/bin/app"\]' || fail "image config not kept"
ok "OCI layout: gzip and zstd layers, whiteouts, opaque folder, hard link, config"

tar -C "$T/img" -cf "$T/img.tar" .
ar import "oci-archive:$T/img.tar" img:2 >/dev/null || fail "oci-archive import"
$OCI docker "$T/docker.tar" "$T/l1.tar" "$T/l2.tar"
ar import "docker-archive:$T/docker.tar" img:3 >/dev/null || fail "docker-archive import"
for v in 2 3; do
	ar checkout "img:$v" "$T/c$v"
	diff -r --no-dereference "$T/c1" "$T/c$v" || fail "img:$v differs from img:1"
done
ok "oci-archive and docker-archive give the same tree"

# A layer whose blob does not match its digest is refused.
cp -r "$T/img" "$T/bad"
f=$(ls "$T/bad/blobs/sha256" | sort | sed -n 1p)
chmod u+w "$T/bad/blobs/sha256/$f"; echo x >>"$T/bad/blobs/sha256/$f"
out=$(ar import "oci:$T/bad" bad:1 2>&1) && fail "corrupt blob imported"
grep -q "does not match its digest" <<<"$out" || fail "corrupt blob: $out"
ok "a corrupt blob is refused: $out"

# --- import safety -----------------------------------------------------------
victim=$T/outside
unsafe() { # NAME EXPECTED-MESSAGE SPEC...
	local name=$1 msg=$2 out
	shift 2
	$OCI tar "$T/$name.tar" "$@"
	$OCI layout "$T/$name" "$T/$name.tar"
	out=$(ar import "oci:$T/$name" "evil:$name" 2>&1) && fail "$name: imported"
	grep -q "$msg" <<<"$out" || fail "$name: unexpected message: $out"
	[ ! -e "$victim" ] || fail "$name: wrote outside the image"
	ok "unsafe $name refused: $out"
}
unsafe dotdot "climbs out" "f:../../${victim#/}:x"
unsafe absolute "absolute path" "f:$victim:x"
unsafe symlink "through" "l:link:$T" "f:link/outside:x"
unsafe hardlink "not a file of the image" "h:x:etc/passwd"
ar ls | grep -q evil && fail "a refused import left a version"

# Device nodes: recorded, made on checkout only by root.
$OCI tar "$T/dev.tar" d:dev c:dev/null:1:3 f:dev/readme:r
$OCI layout "$T/dev" "$T/dev.tar"
ar import "oci:$T/dev" dev:1 >/dev/null
ar checkout dev:1 "$T/dev-root"
[ -c "$T/dev-root/dev/null" ] || fail "root checkout: no device node"
if command -v setpriv >/dev/null; then
	mkdir "$T/user"; chown 65534:65534 "$T/user"; chmod 755 "$T"
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$T/user" "$@"; }
	as_nobody "$ARCHON" --store "$T/user/s" import "oci:$T/dev" dev:1 >/dev/null ||
		fail "unprivileged import"
	as_nobody "$ARCHON" --store "$T/user/s" checkout dev:1 "$T/user/co" || fail "unprivileged checkout"
	[ -f "$T/user/co/dev/readme" ] || fail "unprivileged checkout: files missing"
	[ ! -e "$T/user/co/dev/null" ] || fail "unprivileged checkout made a device node"
	ok "device nodes: made by root, skipped without root"
fi

# --- three versions cost their distinct files --------------------------------
mkdir -p "$T/v1/bin" "$T/v1/lib"
head -c 3000000 /dev/urandom >"$T/v1/lib/big.so"
head -c 200000 /dev/urandom >"$T/v1/bin/app"
echo conf >"$T/v1/app.conf"
cp -a "$T/v1" "$T/v2"; head -c 100000 /dev/urandom >"$T/v2/bin/app"
cp -a "$T/v2" "$T/v3"; echo conf3 >"$T/v3/app.conf"
for v in 1 2 3; do
	ar import "$T/v$v" "app:$v" >/dev/null
	ar checkout "app:$v" "$T/co$v"
	diff -r "$T/v$v" "$T/co$v" || fail "app:$v checkout differs"
done
distinct=$(find "$T/v1" "$T/v2" "$T/v3" -type f -exec sha256sum {} + | sort -u -k1,1 |
	awk '{print $2}' | xargs stat -c %s | awk '{s+=$1} END {print s}')
linked=$(find "$T/co1" "$T/co2" "$T/co3" -type f -printf '%i %s\n' | sort -u |
	awk '{s+=$2} END {print s}')
logical=$(find "$T/co1" "$T/co2" "$T/co3" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
[ "$linked" = "$distinct" ] || fail "three checkouts use $linked bytes, distinct files are $distinct"
ok "three checked-out versions: $linked bytes on disk for $logical bytes of files (distinct: $distinct)"
ar du

# --- gc and verify ------------------------------------------------------------
ar verify || fail "verify of a sound store"
before=$(ar du | sed -n 's/^objects: *\([0-9]*\) files.*/\1/p')
out=$(ar gc --keep 1)
grep -q "dropping version app:1" <<<"$out" || fail "gc --keep 1: $out"
after=$(ar du | sed -n 's/^objects: *\([0-9]*\) files.*/\1/p')
[ "$after" -lt "$before" ] || fail "gc removed nothing ($before -> $after)"
ar ls | grep -q '^app:1 ' && fail "app:1 still listed"
ar ls | grep -q '^app:3 ' || fail "app:3 dropped"
ar verify || fail "verify after gc"
ok "gc --keep 1: $out"

obj=$(find "$S/objects" -type f -size +100k -print -quit)
chmod u+w "$obj"
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(10); b = f.read(1); f.seek(10); f.write(bytes([b[0] ^ 1]))' "$obj"
out=$(ar verify 2>&1) && fail "verify missed a corrupt object"
grep -q "corrupt\|do not match" <<<"$out" || fail "verify: $out"
ok "verify finds a corrupted object"
