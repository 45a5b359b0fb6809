#!/usr/bin/env bash
# The cross-built (static, any CR_CROSS_ARCH) archon, run through the emulator: it
# imports a folder and an OCI layout with a gzip and a zstd layer
# (archon's own tar reader; every architecture, mips included), publishes,
# and pulls what it published from Debian's nginx
# over HTTPS with a CA made here, signed with a vendor key: refused without
# the publisher key, without $CURL_CA_BUNDLE and for an address the
# certificate does not name, pulled and checked out
# intact with both.  docker:// (no libcurl there) is refused
# with a clear error.  A build without an HTTP client pulls the same
# signed version from a file:// origin; one without TLS over http://.
# Cross builds only (tests/CMakeLists.txt, which sets CR_CROSS_HTTP).
set -euo pipefail
: "${ARCHON:?run through ctest}" "${CR_EMULATOR:?}"
http=${CR_CROSS_HTTP:-1}
if [ "$http" = 1 ]; then
	command -v nginx >/dev/null || { echo "SKIP: nginx not installed"; exit 77; }
fi
. "$KORHAL_SRC/tests/integration/lib.sh"
. "$KORHAL_SRC/tests/cross/cross_lib.sh"
OCI="python3 $KORHAL_SRC/tests/integration/archon_oci.py"
arc() { "$CR_EMULATOR" "$ARCHON" "$@"; }

cross_check_elf "$ARCHON"

# A folder and an OCI image (a gzip layer, then a zstd layer changing it).
mkdir -p "$T/app/bin" "$T/app/etc"
head -c 300000 /dev/urandom >"$T/app/bin/app"
echo "level=1" >"$T/app/etc/app.conf"
arc --store "$T/pub" import "$T/app" acme/app:1 >/dev/null || fail "folder import"
printf 'hello from layer 1\n' >"$T/hello"
seq 1 20000 >"$T/seq" # text: dynamic Huffman blocks and matches in the gzip layer
$OCI tar "$T/l1.tar" d:etc f:etc/motd:one F:bin/hello:"$T/hello" F:bin/seq:"$T/seq"
$OCI tar "$T/l2.tar" f:etc/motd:two w:bin/hello
gzip -k "$T/l1.tar"
zstd -q "$T/l2.tar"
$OCI layout "$T/lay" "$T/l1.tar.gz" "$T/l2.tar.zst"
arc --store "$T/pub" import "oci:$T/lay" acme/img:1 >/dev/null || fail "OCI import"
arc --store "$T/pub" checkout acme/img:1 "$T/img"
[ "$(cat "$T/img/etc/motd")" = two ] || fail "OCI layers not applied in order: $(cat "$T/img/etc/motd")"
[ ! -e "$T/img/bin/hello" ] || fail "whiteout not applied"
cmp -s "$T/img/bin/seq" "$T/seq" || fail "a gzip-compressed file differs after import and checkout"
what="a folder and an OCI layout with gzip and zstd layers"
out=$(arc --store "$T/pub" import "docker://127.0.0.1:1/x/y:1" z:1 2>&1) &&
	fail "docker:// accepted by a build without libcurl"
grep -q "no registry client" <<<"$out" || fail "docker:// on $ARCH: $out"
ok "$ARCH archon imports $what; docker:// refused clearly"

W=$T/www
"$CARRIER" keygen --type vendor -o "$T/ven.key" >/dev/null
arc --store "$T/pub" publish acme/app:1 --to "$W" --key "$T/ven.key" >/dev/null || fail "publish"

K=(--publisher-key "$T/ven.key.pub")

# The formats on the wire and on disk do not depend on the byte order or
# word size: the host's (x86_64) archon pulls what this one published,
# and this one pulls what the host's published.
HOST_ARCHON=$(dirname "$(dirname "$CARRIER")")/device-agent/archon/archon
if [ -x "$HOST_ARCHON" ]; then
	"$HOST_ARCHON" --store "$T/hdev" pull "file://$W" acme/app:1 "${K[@]}" >/dev/null ||
		fail "the host's archon cannot pull what the $ARCH archon published"
	"$HOST_ARCHON" --store "$T/hdev" checkout acme/app:1 "$T/hco"
	diff -r "$T/app" "$T/hco" || fail "host checkout of the $ARCH publish differs"
	"$HOST_ARCHON" --store "$T/hpub" import "$T/app" acme/app:2 >/dev/null
	"$HOST_ARCHON" --store "$T/hpub" publish acme/app:2 --to "$T/hwww" --key "$T/ven.key" >/dev/null
	arc --store "$T/xdev" pull "file://$T/hwww" acme/app:2 "${K[@]}" >/dev/null ||
		fail "the $ARCH archon cannot pull what the host's archon published"
	arc --store "$T/xdev" checkout acme/app:2 "$T/xco"
	diff -r "$T/app" "$T/xco" || fail "$ARCH checkout of the host's publish differs"
	ok "$ARCH and x86_64 archons pull each other's signed versions (file://)"
fi

if [ "$http" != 1 ]; then
	out=$(arc --store "$T/dev" pull "http://127.0.0.1:1" acme/app:1 "${K[@]}" 2>&1) &&
		fail "an http:// pull accepted by a build without an HTTP client"
	grep -q "no HTTP client" <<<"$out" || fail "http:// pull without a client: $out"
	out=$(arc --store "$T/dev" pull "file://$W" acme/app:1 2>&1) && fail "a pull without a publisher key accepted"
	grep -q -- "--publisher-key" <<<"$out" || fail "pull without a key: $out"
	arc --store "$T/dev" pull "file://$W" acme/app:1 "${K[@]}" | tail -n 2 || fail "file:// pull"
	arc --store "$T/dev" checkout acme/app:1 "$T/co"
	diff -r "$T/app" "$T/co" || fail "checkout of the file:// pull differs from its source"
	arc --store "$T/dev" verify >/dev/null || fail "verify"
	ok "$ARCH archon (no HTTP client) pulls a signed version from a file:// origin, refused without a key; http:// refused clearly"
	exit 0
fi
if [ "${CR_CROSS_TLS:-1}" != 1 ]; then
	# An HTTP client without TLS (-DCR_DEVICE_TLS=OFF: the musl build
	# until its TLS backend): http:// pulls, https:// refused clearly.
	start_origin "$W"
	out=$(arc --store "$T/dev" pull "$ORIGIN_URL" acme/app:1 2>&1) && fail "a pull without a publisher key accepted"
	grep -q -- "--publisher-key" <<<"$out" || fail "pull without a key: $out"
	arc --store "$T/dev" pull "$ORIGIN_URL" acme/app:1 "${K[@]}" | tail -n 2 || fail "http:// pull"
	arc --store "$T/dev" checkout acme/app:1 "$T/co"
	diff -r "$T/app" "$T/co" || fail "checkout of the http:// pull differs from its source"
	arc --store "$T/dev" verify >/dev/null || fail "verify"
	out=$(arc --store "$T/dev2" pull "https://127.0.0.1:1" acme/app:1 "${K[@]}" 2>&1) &&
		fail "an https:// pull accepted by a build without TLS"
	grep -q "this build has no TLS" <<<"$out" || fail "https:// pull without TLS: $out"
	ok "$ARCH archon (no TLS) pulls a signed version over http://, refused without a key; https:// refused clearly"
	exit 0
fi
make_test_ca IP:127.0.0.1
start_origin "$W" https
SURL=https://127.0.0.1:$ORIGIN_TLS_PORT

out=$(arc --store "$T/dev" pull "$SURL" acme/app:1 2>&1) && fail "a pull without a publisher key accepted"
grep -q -- "--publisher-key" <<<"$out" || fail "pull without a key: $out"
out=$(arc --store "$T/dev" pull "$SURL" acme/app:1 "${K[@]}" 2>&1) && fail "untrusted HTTPS origin accepted"
grep -q "certificate is not trusted: .*CURL_CA_BUNDLE" <<<"$out" || fail "untrusted CA: $out"
# The certificate names 127.0.0.1 only: the same server as 127.0.0.2 is
# refused (device builds check addresses in their own code, mbedTLS 2.28
# checks DNS names only: docs/tls.md).
out=$(CURL_CA_BUNDLE=$T/ca.pem arc --store "$T/dev" pull "https://127.0.0.2:$ORIGIN_TLS_PORT" \
	acme/app:1 "${K[@]}" 2>&1) && fail "a certificate for another address accepted"
grep -q "certificate is not trusted: .*mismatch" <<<"$out" || fail "address mismatch: $out"
out=$(CURL_CA_BUNDLE=$T/ca.pem arc --store "$T/dev" pull "$SURL" acme/app:1 "${K[@]}") ||
	fail "HTTPS pull with CURL_CA_BUNDLE"
echo "$out" | tail -n 2
arc --store "$T/dev" checkout acme/app:1 "$T/co"
diff -r "$T/app" "$T/co" || fail "checkout of the HTTPS pull differs from its source"
arc --store "$T/dev" verify >/dev/null || fail "verify"
ok "$ARCH archon pulls a signed version over HTTPS: refused without a key, untrusted and for another address, trusted through CURL_CA_BUNDLE"
