#!/usr/bin/env bash
# Attack: pushing the real providers of an Archon index out of a node's
# provider list with records signed by throwaway keys (anyone can make a
# key and sign a record).  Four providers announce the index; then 40 fresh
# keys do.  Asserted: the list fills to its 16 records and refuses the
# rest; the four real providers are all still listed, and one renews its
# record while the list is full.  Records are signed here in Python
# (Ed25519, the format of common/archon-format/include/ar/provider.h).
. "$(dirname "$0")/lib.sh"
python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' 2>/dev/null ||
	{ echo "python3 cryptography not installed"; exit 77; }

make_ring 1
start_node_metrics 0
wait_until 10 curl -s -o /dev/null "http://${NODE_ADDR[0]}/archon/v1/" || fail "shard cache not up"
INDEX=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# post FIRST COUNT TTL: COUNT records from keys FIRST.. (key i is derived
# from seed i: "real" providers are keys 0-3); prints each answer's HTTP
# status, one a line.
post() {
	python3 - "http://${NODE_ADDR[0]}/archon/v1/providers/$INDEX" "$INDEX" "$1" "$2" "$3" <<'PY'
import hashlib, sys, time, urllib.error, urllib.request
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
url, index, first, count, ttl = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
for i in range(first, first + count):
    sk = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"prov%d" % i).digest())
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    body = "korhal-provider-v1 %s %s %d %d" % (index, pk, 7000 + i, int(time.time()) + ttl)
    line = "%s %s\n" % (body, sk.sign(body.encode()).hex())
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=line.encode(), method="POST")) as r:
            print(r.status)
    except urllib.error.HTTPError as e:
        print(e.code)
PY
}
# pk_of I: the public key of key I.
pk_of() {
	python3 - "$1" <<'PY'
import hashlib, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
sk = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"prov%d" % int(sys.argv[1])).digest())
print(sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex())
PY
}
listed() { curl -sf "http://${NODE_ADDR[0]}/archon/v1/providers/$INDEX"; }

post 0 4 3600 >"$T/real.out"
[ "$(grep -c '^200$' "$T/real.out")" = 4 ] || fail "the real providers were not stored: $(tr '\n' ' ' <"$T/real.out")"
[ "$(listed | grep -c .)" = 4 ] || fail "the node lists $(listed | grep -c .) providers, not 4"

post 100 40 3600 >"$T/flood.out"
stored=$(grep -c '^200$' "$T/flood.out" || true)
[ "$stored" = 12 ] || fail "$stored of 40 throwaway records stored (room was 12)"
[ "$(listed | grep -c .)" = 16 ] || fail "the list holds $(listed | grep -c .) records, not 16"
for i in 0 1 2 3; do
	listed | grep -q " $(pk_of $i) " || fail "real provider $i was pushed out"
done
[ "$(metric 0 archon_provider_records_refused_full_total)" = 28 ] ||
	fail "refusals counted: $(metric 0 archon_provider_records_refused_full_total)"
ok "40 throwaway keys fill the free room (12) and push out none of the 4 real providers"

post 2 1 7200 >"$T/renew.out"
[ "$(cat "$T/renew.out")" = 200 ] || fail "a real provider could not renew its record while the list is full"
[ "$(listed | grep -c " $(pk_of 2) ")" = 1 ] || fail "the renewed provider is not listed once"
ok "a listed provider renews its record while the list is full"
