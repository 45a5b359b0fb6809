#!/usr/bin/env bash
# Garbage collection after an epoch change: 3 nodes hold the records of 30
# devices (R = 3: every node homes every device).  The devices stop, so the
# records stay as they are; a fourth node joins (epoch 2).  Each node
# offers the records it no longer homes to their home set and deletes its
# copy once a majority of that set acknowledged it: afterwards every record
# is on exactly its 3 home nodes (90 records on 4 nodes), the new node
# holds its share, what the others deleted is counted, and a lookup still
# finds every device's record on its 3 home nodes.  Without an epoch change
# nothing is collected.
. "$(dirname "$0")/lib.sh"
: "${DEVSIM:?run through ctest}"

DEVICES=30
NODE_FLAGS="--heartbeat 100ms --peer-timeout 500ms"
make_ring 3
for i in 0 1 2; do start_node_metrics "$i" $NODE_FLAGS; done
vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key
"$DEVSIM" --ring "$T/ring" --dir "$T/sim" -n $DEVICES --keepalive 500ms \
	>>"$T/devsim.log" 2>&1 &
SIM_PID=$!
PIDS+=("$!")
full() { [ "$(sum_metric carrier_node_presence_records 0 1 2)" -ge $((DEVICES * 3)) ]; }
wait_until 30 full || fail "records not on all 3 nodes: $(sum_metric carrier_node_presence_records 0 1 2)"
kill -KILL "$SIM_PID"
wait "$SIM_PID" 2>/dev/null || true
ok "$DEVICES devices published; every record on all 3 nodes"

# A liveness change re-offers records; every node homes them all, so
# nothing is collected.
kill -KILL "${NODE_PID[2]}"
wait "${NODE_PID[2]}" 2>/dev/null || true   # its port is free again
start_node 2 --metrics "${METRICS[2]}" $NODE_FLAGS
all_alive() { for i in "$@"; do [ "$(metric "$i" carrier_node_peers_alive)" = "$#" ] || return 1; done; }
wait_until 10 all_alive 0 1 2 || fail "node 2 did not come back"
sleep 1
[ "$(sum_metric carrier_node_gc_records_total 0 1 2)" = 0 ] || fail "records collected without an epoch change"
[ "$(sum_metric carrier_node_presence_records 0 1 2)" = $((DEVICES * 3)) ] || fail "records lost"

add_node 3
start_node_metrics 3 $NODE_FLAGS
wait_until 10 all_alive 0 1 2 3 || fail "4 nodes not alive"
# Deletions and the new node's copies arrive in any order: wait for the
# state where both are done.
settled() {
	[ "$(sum_metric carrier_node_presence_records 0 1 2 3)" = $((DEVICES * 3)) ] &&
		[ "$(metric 3 carrier_node_presence_records)" -gt 0 ] &&
		[ "$(sum_metric carrier_node_gc_records_total 0 1 2 3)" = "$(metric 3 carrier_node_presence_records)" ]
}
wait_until 20 settled || fail "not collected: records $(for i in 0 1 2 3; do metric "$i" carrier_node_presence_records; done | tr '\n' ' ')collected $(for i in 0 1 2 3; do metric "$i" carrier_node_gc_records_total; done | tr '\n' ' ')"
per_node=$(for i in 0 1 2 3; do metric "$i" carrier_node_presence_records; done | tr '\n' ' ')
gc=$(sum_metric carrier_node_gc_records_total 0 1 2 3)
ok "epoch 2: $((DEVICES * 3)) records on 4 nodes ($per_node), $gc collected"

bad=0
while read -r id _; do
	j=$("$CARRIER" lookup "$id" --json 2>/dev/null) || { bad=$((bad + 1)); continue; }
	[ "$(json_field "$j" holders)" = 3 ] || bad=$((bad + 1))
done < <(awk '{ print $1 }' "$T/sim/ids.txt")
[ "$bad" = 0 ] || fail "$bad devices not on exactly 3 home nodes"
ok "every device's record is on its 3 home nodes"
echo "PASS"
