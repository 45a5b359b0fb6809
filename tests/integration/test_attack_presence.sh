#!/usr/bin/env bash
# Attack: filling a node's presence store.  attack presence opens real hop
# sessions with throwaway device keys (no credentials needed) and publishes
# signed records.  Bounds asserted on three real nodes (home sets of one
# node): a flood of fresh keys at a node that is not their home node is
# refused; a record expiring a century ahead is refused; one source address
# gets only its budget of new devices; the store holds at most
# --presence-max-records, expired records leave it, and a legitimate device
# still publishes (an update while full, a new one once the flood's records
# expired) and is looked up.
. "$(dirname "$0")/lib.sh"
: "${ATTACK:?run through ctest}"

"$CARRIER" keygen --type operator -o "$T/op.key" >/dev/null
args=()
for i in 0 1 2; do
	NODE_KEY[$i]=$T/node$i.key
	NODE_ADDR[$i]=127.0.0.1:$(free_port)
	"$CARRIER" keygen --type node -o "${NODE_KEY[$i]}" >/dev/null
	args+=(--node "${NODE_KEY[$i]}.pub@${NODE_ADDR[$i]}")
done
"$CARRIER" ring init --operator "$T/op.key" "${args[@]}" --replicas 1 -o "$T/ring" >/dev/null
export CARRIER_RING=$T/ring
for i in 0 1 2; do
	start_node_metrics "$i" --presence-max-records 20 --presence-new-per-addr 10 \
		--presence-max-ttl 1h
done
sees_all() { [ "$(metric "$1" carrier_node_peers_alive)" = 3 ]; }
for i in 0 1 2; do
	wait_until 20 sees_all "$i" || fail "node $i does not see the ring"
done
refused() { curl -sf "http://${METRICS[0]}/metrics" |
	sed -n "s/^carrier_node_presence_refused_total{reason=\"$1\"} //p"; }
records() { metric 0 carrier_node_presence_records; }
flood() { "$ATTACK" presence "$T/ring" 0 "$@" --replicas 1; }
acked() { sed -n 's/^presence: acked \([0-9]*\) .*/\1/p' "$1"; }
vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key

# A legitimate device, homed at node 0 (a record on a node that does not
# home the device is collected once its home set holds it), attached
# before any flood.
flood 1 --home yes --attached --save "$T/legit.key" >"$T/legit1.out"
legit=$(sed -n 's/ ack$//p' "$T/legit1.out")
grep -q " ack$" "$T/legit1.out" || fail "the legitimate device could not publish: $(cat "$T/legit1.out")"

# 1. Fresh keys homed elsewhere, publishing at node 0 without naming it as
#    attached: refused, nothing stored.
flood 30 --home no >"$T/nothome.out"
[ "$(acked "$T/nothome.out")" = 0 ] || fail "node 0 stored records of devices not homed there: $(tail -1 "$T/nothome.out")"
[ "$(refused not_home)" -ge 30 ] || fail "not_home refusals not counted ($(refused not_home))"
[ "$(records)" = 1 ] || fail "node 0 holds $(records) records after the not-home flood"
ok "a flood of fresh keys at a node that is not their home is refused"

# 2. A record that expires in a century.
flood 1 --home yes --ttl $((100 * 365 * 86400)) >"$T/far.out"
grep -q " error " "$T/far.out" || fail "a far-future expiry was accepted: $(cat "$T/far.out")"
[ "$(refused too_far_ahead)" -ge 1 ] || fail "too_far_ahead refusal not counted"
ok "a record expiring too far ahead is refused ($(grep -o 'error.*' "$T/far.out" | head -1))"

# 3. One source address gets its budget of new devices (10), no more.
flood 15 --home yes --src 127.0.0.2 >"$T/budget.out"
[ "$(acked "$T/budget.out")" = 10 ] || fail "source budget: $(tail -1 "$T/budget.out")"
[ "$(refused source_budget)" -ge 5 ] || fail "source_budget refusals not counted"
ok "one source address adds at most its budget of new devices"

# 4. Up to the quota with short-lived records from another address.
flood 12 --home yes --src 127.0.0.3 --ttl 20 >"$T/quota.out"
[ "$(records)" = 20 ] || fail "the store holds $(records) records, not its bound of 20"
[ "$(refused store_full)" -ge 1 ] || fail "store_full refusals not counted: $(tr "\n" " " <"$T/quota.out")"
ok "the store stops at --presence-max-records ($(acked "$T/quota.out") of 12 taken)"
flood 1 --key "$T/legit.key" --attached >"$T/legit2.out"
grep -q " ack$" "$T/legit2.out" || fail "a stored device could not update while full: $(cat "$T/legit2.out")"
ok "a device already stored still updates its record when the store is full"
flood 1 --home yes --src 127.0.0.4 --attached --save "$T/late.key" >"$T/late1.out"
late=$(cut -d' ' -f1 "$T/late1.out" | head -1)
grep -q " error " "$T/late1.out" || fail "a new device was stored beyond the bound: $(cat "$T/late1.out")"

# The flood's records expire and are purged; the new device gets in.
purged() { [ "$(records)" -le 11 ]; }
wait_until 90 purged || fail "expired records were not purged ($(records) left)"
[ "$(metric 0 carrier_node_presence_purged_total)" -ge 9 ] || fail "purged records not counted"
ok "expired records disappear ($(metric 0 carrier_node_presence_purged_total) purged)"
flood 1 --key "$T/late.key" --src 127.0.0.4 --attached >"$T/late2.out"
grep -q " ack$" "$T/late2.out" || fail "the new device could not publish after the purge: $(cat "$T/late2.out")"
for id in "$legit" "$late"; do
	"$CARRIER" lookup "$id" --json >"$T/lookup.out" 2>&1 || fail "lookup $id: $(cat "$T/lookup.out")"
done
ok "legitimate devices publish and are looked up after the flood"
