#!/usr/bin/env bash
# Archon peers through Carrier: a device that holds a version serves its
# store (archon serve) behind its agent and announces the version as a
# signed provider record on the index's shard node; another puller finds
# it there and fetches the chunks and index from it through carrier
# connect (end to end; direct once punched), the origin serving only the
# manifest.  A peer that serves corrupted chunks is detected and skipped,
# and the pull completes from the ring cache and the origin and verifies.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"
command -v nginx >/dev/null || { echo "nginx not installed"; exit 77; }
W=$T/www

mkdir -p "$T/app/lib" "$T/other"
head -c 600000 /dev/urandom >"$T/app/lib/libfoo.so"
head -c 300000 /dev/urandom >"$T/app/lib/libbar.so"
head -c 200000 /dev/urandom >"$T/other/data"
"$CARRIER" keygen --type vendor -o "$T/pub.key" >/dev/null
for v in app other; do
	"$ARCHON" --store "$T/pub" import "$T/$v" "acme/$v:1" >/dev/null
	"$ARCHON" --store "$T/pub" publish "acme/$v:1" --to "$W" --key "$T/pub.key" >/dev/null ||
		fail "publish $v"
done
export ARCHON_PUBLISHER_KEY=$T/pub.key.pub
start_origin "$W"
make_ring 1
start_node 0 --cache-origins "$ORIGIN_URL" # the cache fetches only from named origins
wait_until 10 curl -s -o /dev/null "http://${NODE_ADDR[0]}/archon/v1/" || fail "shard cache not up"

vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key

# index_of NAME: the index id the origin's manifest names.
index_of() { "$ARCHON" --store "$T/pub" show "$1" | grep -o '[0-9a-f]\{64\}' | head -1; }
providers() { curl -sf "http://${NODE_ADDR[0]}/archon/v1/providers/$1"; }

# The provider: its agent allows the vendor to reach its serve port.
prov_id=$(device prov)
sport=$(free_port)
start_agent prov --allow "$ven_id:$sport" --keepalive 1s
wait_until 10 online "$prov_id" || fail "provider never attached"
"$ARCHON" --store "$T/prov-store" pull "$ORIGIN_URL" acme/app:1 >/dev/null || fail "provider's pull"
"$ARCHON" --store "$T/prov-store" serve --listen "127.0.0.1:$sport" --ring "$T/ring" \
	--key "$T/prov.key" >"$T/serve.log" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
idx=$(index_of acme/app:1)
[ -n "$idx" ] || fail "no index id for acme/app:1"
wait_until 10 sh -c "curl -sf http://${NODE_ADDR[0]}/archon/v1/providers/$idx | grep -q ." ||
	fail "no provider record on the shard node"
rec=$(providers "$idx")
grep -q "^korhal-provider-v1 $idx [0-9a-f]\{64\} $sport " <<<"$rec" || fail "provider record: $rec"
ok "the provider's signed record is on the index's shard node"

# A forged record (signature of other bytes) is refused by the node.
forged=$(sed "s/ $sport / $((sport + 1)) /" <<<"$rec")
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary "$forged" \
	"http://${NODE_ADDR[0]}/archon/v1/providers/$idx")
[ "$code" = 400 ] || fail "forged provider record answered $code"

: >"$ORIGIN_LOG"
out=$("$ARCHON" --store "$T/puller" pull "$ORIGIN_URL" acme/app:1 --ring "$T/ring" --peers \
	--carrier "$CARRIER") || fail "pull from the peer"
echo "$out"
grep -q "^1 peers hold this version, 1 reachable" <<<"$out" || fail "peer not found"
read -r peer ring origin < <(sed -n 's/^sources: \([0-9]*\) bytes from peers, \([0-9]*\) bytes from the ring cache, \([0-9]*\) bytes from the origin.*/\1 \2 \3/p' <<<"$out")
served=$(origin_served)
echo "peer $peer bytes, ring $ring, origin $origin (nginx served $served)"
[ "$peer" -gt 900000 ] || fail "only $peer bytes came from the peer"
[ "$ring" -eq 0 ] || fail "the ring served $ring bytes though the peer had everything"
[ "$served" -lt 2000 ] || fail "the origin served $served bytes (more than the manifest)"
"$ARCHON" --store "$T/puller" verify >/dev/null || fail "puller's store does not verify"
"$ARCHON" --store "$T/puller" checkout acme/app:1 "$T/co"
diff -r "$T/app" "$T/co" || fail "checkout differs from the source"
ok "chunks and index came from the peer through carrier connect"

# A lying peer: it announced acme/other:1, then a server that answers
# every request with garbage took its serve port.
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
"$ARCHON" --store "$T/prov-store" pull "$ORIGIN_URL" acme/other:1 >/dev/null || fail "provider's pull of other"
"$ARCHON" --store "$T/prov-store" serve --listen "127.0.0.1:$sport" --ring "$T/ring" \
	--key "$T/prov.key" >"$T/serve2.log" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
idx2=$(index_of acme/other:1)
wait_until 10 sh -c "curl -sf http://${NODE_ADDR[0]}/archon/v1/providers/$idx2 | grep -q ." ||
	fail "no provider record for acme/other:1"
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
start_liar "$sport" 500
out=$("$ARCHON" --store "$T/puller2" pull "$ORIGIN_URL" acme/other:1 --ring "$T/ring" --peers \
	--carrier "$CARRIER") || fail "pull with a lying peer failed"
echo "$out"
grep -q "^1 peers hold this version, 1 reachable" <<<"$out" || fail "the liar was not tried"
grep -q "bad copies refused" <<<"$out" || fail "the liar's copies were not refused"
grep -q "^sources: [0-9]* bytes from peers, [1-9][0-9]* bytes from the ring cache" <<<"$out" ||
	fail "nothing came from the ring after the liar"
"$ARCHON" --store "$T/puller2" verify >/dev/null || fail "store does not verify after the liar"
"$ARCHON" --store "$T/puller2" checkout acme/other:1 "$T/co2"
diff -r "$T/other" "$T/co2" || fail "checkout differs after the liar"
ok "a peer serving corrupted data is skipped; the pull verifies"
