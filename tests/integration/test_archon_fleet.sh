#!/usr/bin/env bash
# A fleet update through the ring's shard cache and peers: Debian's nginx
# is the origin, three carrier-nodes on loopback cache Archon objects, and
# 50 devices (separate stores) pull v1, then all pull the v2 update at
# once.  Two seed devices with real agents got v2 first and serve it
# (archon serve, provider records); ten of the 50 also ask peers, through
# carrier connect.  Asserted: the origin serves at most twice the update's
# size for the whole fleet, seeds included (counted from nginx's log); the
# rest comes from the ring and the peers (the pullers' per-source counts
# and the nodes' metrics agree); every store verifies.  Then a cache node that serves corrupted objects is
# detected and skipped, and the pull still completes from the origin.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"
command -v nginx >/dev/null || { echo "nginx not installed"; exit 77; }
N=${ARCHON_FLEET_DEVICES:-50}
NPEERS=10 # devices that also ask peers
P=$T/pub-store W=$T/www

# v2 rebuilds a library (a delta) and adds new content (chunks).
mkdir -p "$T/v1/lib" "$T/v1/etc"
python3 - "$T" <<'PY'
import os, random, sys
t = sys.argv[1]
r = random.Random(7)
def code(n):
    return bytes(r.choice(b"\x00\x48\x89\xe8\xc3\x0f\x1f\x44\x8b\x45") for _ in range(n))
lib = bytearray(code(600_000))
open(f"{t}/v1/lib/libfoo.so.1", "wb").write(lib)
open(f"{t}/v1/lib/libbar.so", "wb").write(os.urandom(300_000))
open(f"{t}/v1/etc/app.conf", "w").write("level=1\n")
lib2 = lib[:300_000] + code(2000) + lib[300_000:]
for i in range(0, len(lib2), 8192):
    lib2[i] ^= 1
open(f"{t}/lib2", "wb").write(lib2)
open(f"{t}/new.dat", "wb").write(os.urandom(400_000))
PY
cp -a "$T/v1" "$T/v2"; cp "$T/lib2" "$T/v2/lib/libfoo.so.1"; cp "$T/new.dat" "$T/v2/lib/"
"$CARRIER" keygen --type vendor -o "$T/ven.key" >/dev/null
for v in 1 2; do
	"$ARCHON" --store "$P" import "$T/v$v" "acme/app:$v" >/dev/null
	"$ARCHON" --store "$P" publish "acme/app:$v" --to "$W" --key "$T/ven.key" >/dev/null ||
		fail "publish v$v"
done
export ARCHON_PUBLISHER_KEY=$T/ven.key.pub
start_origin "$W"

make_ring 3
for i in 0 1 2; do
	start_node_metrics "$i" --cache-size 64M --cache-origins "http://192.0.2.1/,$ORIGIN_URL/"
done
for i in 0 1 2; do
	# The cache answers HTTP on TCP at the node's ring address.
	wait_until 10 curl -s -o /dev/null "http://${NODE_ADDR[$i]}/archon/v1/" ||
		fail "node $i's shard cache is not up"
done
# A node fetches only from the origins it is told (no open fetcher).
code=$(curl -s -o /dev/null -w '%{http_code}' "http://${NODE_ADDR[0]}/archon/v1/indexes/$(ls "$W/indexes" | head -1)?origin=http%3A%2F%2F127.0.0.1%3A1")
[ "$code" = 403 ] || fail "a request naming another origin answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://${NODE_ADDR[0]}/archon/v1/chunks/00/$(printf '0%.0s' $(seq 64))")
[ "$code" = 400 ] || fail "a malformed request answered $code"

# pull_all TAG [NPEERS]: every device pulls acme/app:TAG at once, the
# first NPEERS asking peers too.
pull_all() {
	local pids=() d extra
	for d in $(seq 1 "$N"); do
		extra=()
		[ "$d" -gt "${2:-0}" ] || extra=(--peers --carrier "$CARRIER")
		"$ARCHON" --store "$T/dev$d" pull "$ORIGIN_URL" "acme/app:$1" --ring "$T/ring" \
			"${extra[@]}" >"$T/pull$1-$d.out" 2>&1 &
		pids+=("$!")
	done
	for d in $(seq 1 "$N"); do
		wait "${pids[$((d - 1))]}" || { cat "$T/pull$1-$d.out"; fail "device $d: pull of v$1"; }
	done
}
# sum TAG FIELD: FIELD 1 = peer bytes, 2 = ring bytes, 3 = origin bytes,
# over every device and seed.
sum() {
	sed -n 's/^sources: \([0-9]*\) bytes from peers, \([0-9]*\) bytes from the ring cache, \([0-9]*\) bytes from the origin.*/\1 \2 \3/p' \
		"$T"/pull"$1"-*.out | awk -v f="$2" '{s+=$f; n++} END {print s+0, n+0}'
}

# The seeds: agents that let the vendor (the pullers' Carrier key) reach
# their serve port.
vendor fleet >/dev/null
ven_id=$("$CARRIER" id "$T/fleet.key")
export CARRIER_KEY=$T/fleet.key
for k in 1 2; do
	SEED_ID[$k]=$(device "seed$k")
	SEED_PORT[$k]=$(free_port)
	start_agent "seed$k" --allow "$ven_id:${SEED_PORT[$k]}" --keepalive 1s
done
for k in 1 2; do
	wait_until 10 online "${SEED_ID[$k]}" || fail "seed $k never attached"
	"$ARCHON" --store "$T/seed$k" pull "$ORIGIN_URL" acme/app:1 --ring "$T/ring" \
		>"$T/pull1-seed$k.out" || fail "seed $k: pull of v1"
done

t0=$(date +%s%N)
pull_all 1
t1=$(date +%s%N)
v1_origin=$(origin_served)
: >"$ORIGIN_LOG"
for k in 1 2; do
	"$ARCHON" --store "$T/seed$k" pull "$ORIGIN_URL" acme/app:2 --ring "$T/ring" \
		>"$T/pull2-seed$k.out" || fail "seed $k: pull of v2"
	"$ARCHON" --store "$T/seed$k" serve --listen "127.0.0.1:${SEED_PORT[$k]}" \
		--ring "$T/ring" --key "$T/seed$k.key" >"$T/serve$k.log" 2>&1 &
	PIDS+=("$!")
done
idx2=$("$ARCHON" --store "$P" show acme/app:2 | grep -o '[0-9a-f]\{64\}' | head -1)
[ -n "$idx2" ] || fail "no index id for v2"
# Each seed's record goes to the two nodes ranked first for the index.
records() {
	local i n=0
	for i in 0 1 2; do
		n=$((n + $(curl -s "http://${NODE_ADDR[$i]}/archon/v1/providers/$idx2" | grep -c '^korhal-provider-v1')))
	done
	echo "$n"
}
# (A function: wait_until must count again on each try.)
all_records() { [ "$(records)" -ge 4 ]; }
wait_until 10 all_records || fail "provider records: $(records) of 4"
t1b=$(date +%s%N)
pull_all 2 "$NPEERS"
t2=$(date +%s%N)
v2_origin=$(origin_served)

# The update's size: what one device downloads for it (delta, new chunks,
# index delta and manifest), whichever source served it.
cat "$T/pull2-1.out"
update=$(sed -n 's/^pulled acme\/app:2: \([0-9]*\) bytes.*/\1/p' "$T/pull2-1.out")
read -r peer2 n2 < <(sum 2 1)
read -r ring2 _ < <(sum 2 2)
read -r orig2 _ < <(sum 2 3)
[ "$n2" -eq $((N + 2)) ] || fail "only $n2 of $N + 2 pulls printed their sources"
grep -q "from deltas" "$T/pull2-1.out" || fail "no delta in the update"
echo "fleet of $N: v1 in $(((t1 - t0) / 1000000)) ms (origin served $v1_origin bytes); v2 in $(((t2 - t1b) / 1000000)) ms"
echo "update: $update bytes per device; origin served $v2_origin bytes for $N devices and 2 seeds;" \
	"they got $peer2 bytes from peers, $ring2 from the ring, $orig2 from the origin"
[ "$update" -gt 100000 ] || fail "the update is only $update bytes"
[ "$v2_origin" -le $((2 * update)) ] ||
	fail "origin served $v2_origin bytes for the update, more than twice its $update"
[ $((ring2 + peer2)) -ge $(((N - 2) * update)) ] ||
	fail "the ring and peers served only $((ring2 + peer2)) bytes of $((N * update))"
[ "$peer2" -ge $((NPEERS * update / 2)) ] ||
	fail "peers served only $peer2 bytes to $NPEERS devices"
# Both seeds' announcements are found by every device; a connect to one
# of them may time out on a loaded machine (ten pulls at once under ASan),
# so a device must reach at least one, and the bytes above show the peers
# served.
for d in $(seq 1 "$NPEERS"); do
	grep -q "^2 peers hold this version, [12] reachable" "$T/pull2-$d.out" ||
		fail "device $d: $(grep peers "$T/pull2-$d.out")"
done
ok "origin served $v2_origin bytes (update $update bytes x $N devices); peers $peer2, the ring the rest"

read -r orig1 _ < <(sum 1 3)
for i in 0 1 2; do
	b=$(metric "$i" archon_cache_bytes) || fail "metrics of node $i"
	[ "$b" -le $((64 << 20)) ] || fail "node $i holds $b bytes, over its bound"
done
hits=$(sum_metric archon_cache_hits_total 0 1 2)
misses=$(sum_metric archon_cache_misses_total 0 1 2)
objects=$(sum_metric archon_cache_objects 0 1 2)
fetched=$(sum_metric archon_cache_origin_bytes_total 0 1 2)
fetches=$(sum_metric archon_cache_origin_fetches_total 0 1 2)
echo "nodes: $hits hits, $misses misses, $objects objects; $fetches fetches, $fetched bytes from the origin"
# nginx's bytes are the nodes' fetches plus what devices fetched themselves
# (manifests).
[ $((fetched + orig1 + orig2)) -eq $((v1_origin + v2_origin)) ] ||
	fail "nodes fetched $fetched, devices $orig1 + $orig2 bytes; nginx served $v1_origin + $v2_origin"
[ "$objects" -gt 10 ] || fail "the nodes cache only $objects objects"
# Concurrent misses of one object wait for one fetch: one per object.
[ "$fetches" -eq "$objects" ] || fail "$fetches origin fetches for $objects objects"
[ "$hits" -gt 0 ] || fail "no cache hits"

for d in 1 $((N / 2)) "$N"; do
	"$ARCHON" --store "$T/dev$d" verify >/dev/null || fail "device $d's store does not verify"
	"$ARCHON" --store "$T/dev$d" checkout acme/app:2 "$T/co$d"
	diff -r "$T/v2" "$T/co$d" || fail "device $d's v2 differs from its source"
done
ok "devices verify and check out v2"

# A ring whose only node serves garbage for every object: each copy is
# refused, the pull takes everything from the origin and verifies.
bad_port=$(free_port)
start_liar "$bad_port" 2000
"$CARRIER" keygen --type node -o "$T/bad.key" >/dev/null
"$CARRIER" ring init --operator "$T/op.key" --node "$T/bad.key.pub@127.0.0.1:$bad_port" \
	-o "$T/badring" >/dev/null
out=$("$ARCHON" --store "$T/victim" pull "$ORIGIN_URL" acme/app:2 --ring "$T/badring") ||
	fail "pull through a lying cache node failed"
echo "$out"
grep -Eq "bad copies refused" <<<"$out" || fail "the lying node's copies were not refused"
grep -q "^sources: 0 bytes from peers, [0-9]* bytes from the ring cache, [1-9][0-9]* bytes from the origin" <<<"$out" ||
	fail "nothing came from the origin"
"$ARCHON" --store "$T/victim" verify >/dev/null || fail "victim store does not verify"
ok "a cache node serving corrupted objects is skipped"

# A node with a small bound: it evicts least-recently-used objects and
# stays within the bound; its objects survive a restart.
NODE_KEY[3]=$T/small.key NODE_ADDR[3]=127.0.0.1:$(free_port) METRICS[3]=127.0.0.1:$(free_port)
"$CARRIER" keygen --type node -o "$T/small.key" >/dev/null
"$CARRIER" ring init --operator "$T/op.key" --node "$T/small.key.pub@${NODE_ADDR[3]}" \
	-o "$T/smallring" >/dev/null
start_small() {
	"$CARRIER_NODE" --key "$T/small.key" --ring "$T/smallring" --listen "${NODE_ADDR[3]}" \
		--data "$T/small.d" --metrics "${METRICS[3]}" --cache-size 200K --cache-origins "$ORIGIN_URL" \
		>>"$T/small.log" 2>&1 &
	NODE_PID[3]=$!
	PIDS+=("$!")
	wait_until 10 curl -sf -o /dev/null "http://${METRICS[3]}/metrics" ||
		fail "small node did not start"
}
start_small
"$ARCHON" --store "$T/small-dev" pull "$ORIGIN_URL" acme/app:2 --ring "$T/smallring" >/dev/null ||
	fail "pull through the small node"
ev=$(metric 3 archon_cache_evictions_total) held=$(metric 3 archon_cache_bytes)
objs=$(metric 3 archon_cache_objects)
echo "small node: $objs objects, $held bytes held, $ev evictions"
[ "$ev" -gt 0 ] || fail "no eviction with a 200K bound"
[ "$held" -le $((200 << 10)) ] || fail "$held bytes held, over the 200K bound"
kill -TERM "${NODE_PID[3]}"; wait "${NODE_PID[3]}" || true
start_small
[ "$(metric 3 archon_cache_objects)" = "$objs" ] || fail "objects lost across a restart"
[ "$(metric 3 archon_cache_bytes)" = "$held" ] || fail "bytes differ across a restart"
ok "the cache stays within its bound (LRU eviction) and survives a restart"
