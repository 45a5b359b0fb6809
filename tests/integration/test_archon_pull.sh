#!/usr/bin/env bash
# Archon publish and pull through Debian's nginx on 127.0.0.1: three
# versions published with a vendor key; a device pulls v1, then v2 and
# v3, fetching only new chunks or deltas (asserted on the bytes nginx
# served); three checked-out versions use only their distinct files; diff;
# over HTTPS with a CA made here: trusted through $CURL_CA_BUNDLE, refused
# without it and for a name the certificate does not hold; a tampered
# chunk and a foreign publisher are refused.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"
command -v nginx >/dev/null || { echo "nginx not installed"; exit 77; }
P=$T/pub-store D=$T/dev-store W=$T/www

# Three versions of an app: v2 "rebuilds" one binary (an insertion shifts
# its code, sparse bytes change), v3 changes a config file.
mkdir -p "$T/v1/bin" "$T/v1/lib" "$T/v1/etc"
python3 - "$T" <<'PY'
import os, random, sys
t = sys.argv[1]
r = random.Random(6)
def code(n):  # low-entropy bytes, like machine code
    return bytes(r.choice(b"\x00\x48\x89\xe8\xc3\x0f\x1f\x44\x8b\x45") for _ in range(n))
lib = bytearray(code(2_000_000))
app = code(300_000)
open(f"{t}/v1/lib/libfoo.so.1", "wb").write(lib)
open(f"{t}/v1/bin/app", "wb").write(app)
open(f"{t}/v1/lib/libbar.so", "wb").write(os.urandom(500_000))
open(f"{t}/v1/etc/app.conf", "w").write("level=1\n")
lib2 = lib[:700_000] + code(3000) + lib[700_000:]
for i in range(0, len(lib2), 8192):
    lib2[i] ^= 1
open(f"{t}/lib2", "wb").write(lib2)
PY
cp -a "$T/v1" "$T/v2"; cp "$T/lib2" "$T/v2/lib/libfoo.so.1"
cp -a "$T/v2" "$T/v3"; echo "level=3" >"$T/v3/etc/app.conf"

"$CARRIER" keygen --type vendor -o "$T/ven.key" >/dev/null
"$CARRIER" keygen --type vendor -o "$T/other.key" >/dev/null
for v in 1 2 3; do
	"$ARCHON" --store "$P" import "$T/v$v" "acme/app:$v" >/dev/null
	"$ARCHON" --store "$P" publish "acme/app:$v" --to "$W" --key "$T/ven.key" ||
		fail "publish v$v"
done
[ -f "$W/refs/acme/app/3" ] || fail "no manifest for acme/app:3"
ls "$W"/deltas/* >/dev/null 2>&1 || fail "no deltas published"

# A private CA and a certificate for 127.0.0.1 (not 127.0.0.2).
make_test_ca IP:127.0.0.1
start_origin "$W" https
URL=$ORIGIN_URL
sport=$ORIGIN_TLS_PORT

served() { origin_served; }
export ARCHON_PUBLISHER_KEY=$T/ven.key.pub
out1=$("$ARCHON" --store "$D" pull "$URL" acme/app:1) || fail "pull v1"
echo "$out1"
grep -q "receiving archon index .. complete" <<<"$out1" || fail "no index progress line"
grep -Eq "^[0-9]+ chunks holding [0-9.]+ (B|KiB|MiB) \([0-9]+ not held, holding [0-9.]+ (B|KiB|MiB)\)" <<<"$out1" ||
	fail "no chunks summary line"
grep -Eiq "shard|[0-9](Kb|Mb)" <<<"$out1" && fail "old units or words in: $out1"
b1=$(served); cp "$T/access.log" "$T/v1-requests.log"; : >"$T/access.log"
out2=$("$ARCHON" --store "$D" pull "$URL" acme/app:2) || fail "pull v2"
echo "$out2"
b2=$(served)
chunk_reqs=$(grep -c '^/chunks/' "$T/access.log" || true)
delta_reqs=$(grep -c '^/deltas/' "$T/access.log" || true)
: >"$T/access.log"
out3=$("$ARCHON" --store "$D" pull "$URL" acme/app:3) || fail "pull v3"
b3=$(served)
echo "served: v1 $b1 bytes, v2 $b2 bytes ($chunk_reqs chunk and $delta_reqs delta requests), v3 $b3 bytes"
# The v2 update changes a 2 MB library: a delta, no chunk of it.
[ "$delta_reqs" -ge 1 ] || fail "v2 was not fetched by delta"
[ "$chunk_reqs" -eq 0 ] || fail "v2 fetched $chunk_reqs chunks besides the delta"
[ "$b2" -lt $((b1 / 20)) ] || fail "v2 cost $b2 bytes, v1 $b1: not an update's size"
grep -q "pulled acme/app:2: $b2 bytes" <<<"$out2" || fail "pull's own count differs from nginx's ($b2)"
[ "$b3" -lt 2000 ] || fail "v3 (one config line) cost $b3 bytes: index not fetched by delta?"
ok "v1 $b1 bytes, then v2 $b2 bytes (by delta), v3 $b3 bytes"

"$ARCHON" --store "$D" verify || fail "verify"
for v in 1 2 3; do
	"$ARCHON" --store "$D" checkout "acme/app:$v" "$T/co$v"
	diff -r "$T/v$v" "$T/co$v" || fail "checkout of v$v differs from its source"
done
distinct=$(find "$T/v1" "$T/v2" "$T/v3" -type f -exec sha256sum {} + | sort -u -k1,1 |
	awk '{print $2}' | xargs stat -c %s | awk '{s+=$1} END {print s}')
linked=$(find "$T/co1" "$T/co2" "$T/co3" -type f -printf '%i %s\n' | sort -u |
	awk '{s+=$2} END {print s}')
[ "$linked" = "$distinct" ] || fail "three checkouts take $linked bytes, distinct files $distinct"
ok "three checked-out versions take $linked bytes: their distinct files"

d=$("$ARCHON" --store "$D" diff acme/app:1 acme/app:2)
echo "$d"
grep -q "deltas: 1 with" <<<"$d" || fail "diff does not show the delta"
grep -q "chunks: 0 with" <<<"$d" || fail "diff shows chunks for a delta update"

# A device without v1 gets v2 by chunks (no base for the delta).
out=$("$ARCHON" --store "$T/fresh" pull "$URL" acme/app:2) || fail "fresh pull"
grep -q "0 from deltas" <<<"$out" || fail "fresh device used a delta: $out"
ok "a device without the base file fetches chunks"

# HTTPS: the origin's CA is trusted only through $CURL_CA_BUNDLE.
SURL=https://127.0.0.1:$sport
out=$("$ARCHON" --store "$T/s1" pull "$SURL" acme/app:1 2>&1) && fail "untrusted HTTPS origin accepted"
grep -q "certificate is not trusted: .*CURL_CA_BUNDLE" <<<"$out" || fail "untrusted CA: $out"
out=$(CURL_CA_BUNDLE=$T/ca.pem "$ARCHON" --store "$T/s1" pull "https://127.0.0.2:$sport" acme/app:1 2>&1) &&
	fail "a certificate for another address accepted"
grep -q "certificate is not trusted: .*mismatch" <<<"$out" || fail "address mismatch: $out"
out=$(CURL_CA_BUNDLE=$T/nonexistent.pem "$ARCHON" --store "$T/s1" pull "$SURL" acme/app:1 2>&1) &&
	fail "a missing CA bundle accepted"
grep -q "CURL_CA_BUNDLE=.*no certificates" <<<"$out" || fail "missing bundle: $out"
"$ARCHON" --store "$T/s1" ls | grep -q acme && fail "a refused HTTPS pull left a version"
out=$(CURL_CA_BUNDLE=$T/ca.pem "$ARCHON" --store "$T/s1" pull "$SURL" acme/app:2) || fail "HTTPS pull"
"$ARCHON" --store "$T/s1" checkout acme/app:2 "$T/sco2"
diff -r "$T/v2" "$T/sco2" || fail "HTTPS checkout of v2 differs from its source"
ok "HTTPS origin: refused untrusted and for another address, pulled with CURL_CA_BUNDLE"

# A publisher we do not trust, and a tampered chunk, are refused.
export ARCHON_PUBLISHER_KEY=$T/other.key.pub
out=$("$ARCHON" --store "$T/d2" pull "$URL" acme/app:1 2>&1) && fail "foreign publisher accepted"
grep -q "not signed by the publisher key" <<<"$out" || fail "foreign: $out"
export ARCHON_PUBLISHER_KEY=$T/ven.key.pub
c=$W$(awk '/^\/chunks\// {print $1; exit}' "$T/v1-requests.log")
# A valid zstd frame of other bytes: decompresses, but not to the chunk.
orig_len=$(zstd -q -d -c "$c" | wc -c)
head -c "$orig_len" /dev/zero | zstd -q -c >"$c"
out=$("$ARCHON" --store "$T/d3" pull "$URL" acme/app:1 2>&1) && fail "tampered chunk accepted"
grep -q "does not match its id" <<<"$out" || fail "tampered: $out"
"$ARCHON" --store "$T/d3" verify >/dev/null || fail "store inconsistent after a refused pull"
"$ARCHON" --store "$T/d3" ls | grep -q acme && fail "a refused pull left a version"
ok "foreign publisher and tampered chunk refused; the store stays consistent"
