#!/usr/bin/env bash
# archon import docker://: Debian's docker-registry on 127.0.0.1 holds a
# tiny busybox image (one platform) and a two-platform image index, both
# pushed with skopeo; archon imports them through the OCI distribution API
# (Accept headers for OCI media types, index resolved to this platform),
# and the checked-out busybox runs.  A second registry requires Bearer
# tokens from a token service (registry_token.py, JWTs signed with a key
# whose certificate is the registry's rootcertbundle): the import works
# with ARCHON_REGISTRY_AUTH and fails clearly without it or with a wrong
# password.
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

# Token auth: the registry trusts JWTs signed by the token service's key.
python3 -c 'import cryptography' 2>/dev/null || fail "python3-cryptography missing (scripts/test.sh installs it)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$T/token.key" -out "$T/token.pem" -subj "/CN=korhal token issuer" \
	>"$T/openssl.log" 2>&1 || fail "openssl: $(cat "$T/openssl.log")"
tport=$(free_port)
python3 "$(dirname "$0")/registry_token.py" "$tport" "$T/token.key" "$T/token.pem" \
	korhal-issuer "korhal:s3cret" >"$T/token.log" 2>&1 &
PIDS+=("$!")
aport=$(free_port)
cat >"$T/registry-auth.yml" <<CONF
version: 0.1
storage:
  filesystem:
    rootdirectory: $T/registry-auth
http:
  addr: 127.0.0.1:$aport
auth:
  token:
    realm: http://127.0.0.1:$tport/token
    service: korhal-registry
    issuer: korhal-issuer
    rootcertbundle: $T/token.pem
CONF
docker-registry serve "$T/registry-auth.yml" >"$T/registry-auth.log" 2>&1 &
PIDS+=("$!")
answers() { # answers CODE CURL-ARGS...
	local want=$1
	shift
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$@")" = "$want" ]
}
wait_until 10 answers 401 "http://127.0.0.1:$aport/v2/" || fail "token registry did not start"
wait_until 10 answers 200 -u korhal:s3cret "http://127.0.0.1:$tport/token" ||
	fail "token service did not start: $(cat "$T/token.log")"
skopeo copy -q --dest-tls-verify=false --dest-creds korhal:s3cret "oci:$T/bb:latest" \
	"docker://127.0.0.1:$aport/private/busybox:1" || fail "skopeo push with a token"

AREF=docker://127.0.0.1:$aport/private/busybox:1
out=$("$ARCHON" --store "$T/sa" import "$AREF" pb:1 2>&1) && fail "imported without credentials"
grep -q "wants credentials (HTTP 401): set ARCHON_REGISTRY_AUTH" <<<"$out" || fail "no credentials: $out"
ok "without credentials: $out"
out=$(ARCHON_REGISTRY_AUTH=korhal:wrong "$ARCHON" --store "$T/sa" import "$AREF" pb:1 2>&1) &&
	fail "imported with a wrong password"
grep -q "refused the credentials in ARCHON_REGISTRY_AUTH" <<<"$out" || fail "wrong password: $out"
"$ARCHON" --store "$T/sa" ls | grep -q pb && fail "a refused import left a version"
ARCHON_REGISTRY_AUTH=korhal:s3cret "$ARCHON" --store "$T/sa" import "$AREF" pb:1 ||
	fail "import with a token"
"$ARCHON" --store "$T/sa" checkout pb:1 "$T/pco"
[ "$(cat "$T/pco/etc/motd")" = hello-archon ] || fail "file content through the token registry"
grep -q "scope=repository%3Aprivate%2Fbusybox%3Apull auth=ok\|scope=repository:private/busybox:pull auth=ok" "$T/token.log" ||
	fail "archon's token request not seen: $(cat "$T/token.log")"
ok "token registry: imported with ARCHON_REGISTRY_AUTH, refused without it and with a wrong password"
