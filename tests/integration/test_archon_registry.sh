#!/usr/bin/env bash
# archon import docker://: Debian's docker-registry on 127.0.0.1 holds a
# tiny busybox image (one platform) and a two-platform image index, both
# pushed with skopeo; archon imports them through the OCI distribution API
# (Accept headers for OCI media types, index resolved to this platform),
# and the checked-out busybox runs.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"
for p in docker-registry skopeo; do
	command -v "$p" >/dev/null || { echo "$p not installed"; exit 77; }
done
[ "$(uname -m)" = x86_64 ] || { echo "the image index test assumes amd64"; exit 77; }
OCI="python3 $(dirname "$0")/archon_oci.py"
bb=$(command -v busybox)
file -L "$bb" | grep -q 'statically linked' || { echo "needs busybox-static"; exit 77; }

port=$(free_port)
cat >"$T/registry.yml" <<CONF
version: 0.1
storage:
  filesystem:
    rootdirectory: $T/registry
http:
  addr: 127.0.0.1:$port
CONF
docker-registry serve "$T/registry.yml" >"$T/registry.log" 2>&1 &
PIDS+=("$!")
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$port/v2/" || fail "registry did not start"

$OCI tar "$T/bb.tar" d:bin "F:bin/busybox:$bb" l:bin/sh:busybox d:etc f:etc/motd:hello-archon
gzip -k "$T/bb.tar"
$OCI layout "$T/bb" "$T/bb.tar.gz"
skopeo copy -q --dest-tls-verify=false "oci:$T/bb:latest" \
	"docker://127.0.0.1:$port/tiny/busybox:1" || fail "skopeo push"

"$ARCHON" --store "$T/s" import "docker://127.0.0.1:$port/tiny/busybox:1" bb:1 ||
	fail "import from the registry"
"$ARCHON" --store "$T/s" checkout bb:1 "$T/co"
[ "$(cat "$T/co/etc/motd")" = hello-archon ] || fail "file content"
[ "$("$T/co/bin/sh" -c 'echo ran')" = ran ] || fail "the checked-out busybox does not run"
"$ARCHON" --store "$T/s" show bb:1 | grep -q '"architecture": *"amd64"' || fail "config not kept"
ok "docker://127.0.0.1:$port/tiny/busybox:1 imported; its busybox runs"

# Two platforms behind one tag: the amd64 one is picked.
$OCI tar "$T/amd.tar" f:arch:amd64
$OCI tar "$T/arm.tar" f:arch:arm64
$OCI multi "$T/multi" "$T/amd.tar" "$T/arm.tar"
skopeo copy -q --all --dest-tls-verify=false "oci:$T/multi:latest" \
	"docker://127.0.0.1:$port/tiny/multi:2" || fail "skopeo push of the index"
"$ARCHON" --store "$T/s" import "docker://127.0.0.1:$port/tiny/multi:2" multi:2 ||
	fail "import of an image index"
"$ARCHON" --store "$T/s" checkout multi:2 "$T/multi-co"
[ "$(cat "$T/multi-co/arch")" = amd64 ] || fail "wrong platform: $(cat "$T/multi-co/arch")"
ARCHON_PLATFORM=linux/arm64 "$ARCHON" --store "$T/s" import \
	"docker://127.0.0.1:$port/tiny/multi:2" multi:arm || fail "import for arm64"
"$ARCHON" --store "$T/s" checkout multi:arm "$T/multi-arm"
[ "$(cat "$T/multi-arm/arch")" = arm64 ] || fail "ARCHON_PLATFORM ignored"
ok "image index: amd64 picked by default, arm64 with ARCHON_PLATFORM"

out=$("$ARCHON" --store "$T/s" import "docker://127.0.0.1:$port/tiny/nothere:1" x:1 2>&1) &&
	fail "a missing image imported"
grep -q "not found" <<<"$out" || fail "missing image: $out"
ok "a missing image is refused: $out"
