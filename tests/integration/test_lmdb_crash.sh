#!/usr/bin/env bash
# LMDB survives SIGKILL at random moments: a node takes in a stream of
# presence records (200 devices attaching and publishing) and is killed at
# a random moment, three times; each time its store
# opens cleanly (mdb_stat, mdb_dump of every database), the node starts
# again on it, and every record acknowledged before the kill is there at
# its acknowledged sequence or newer.
. "$(dirname "$0")/lib.sh"
: "${DEVSIM:?run through ctest}"
command -v mdb_dump >/dev/null || { echo "SKIP: mdb_dump (lmdb-utils) is not installed"; exit 77; }

DEVICES=200
make_ring 1
METRICS=127.0.0.1:$(free_port)
vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key
SIM=$(mktemp -d /dev/shm/korhal-sim.XXXXXX 2>/dev/null) || SIM=$T/sim
trap 'rc=$?; set +e; [ "$SIM" = "$T/sim" ] || rm -rf "$SIM"; (exit $rc); cleanup' EXIT
records() { curl -sf "http://$METRICS/metrics" | sed -n 's/^carrier_node_presence_records //p'; }
has_records() { [ "$(records)" -gt 0 ] 2>/dev/null; }
dump_acked() { # dump_acked PID: devsim's acknowledged sequences, fresh
	rm -f "$SIM/acked.txt"
	kill -USR1 "$1"
	wait_until 20 test -s "$SIM/acked.txt"
}
some_acked() { dump_acked "$1" && awk '$2 > 0' "$SIM/acked.txt" | grep -q .; }

for round in 1 2 3; do
	start_node 0 --metrics "$METRICS"
	rm -f "$SIM/ids.txt"
	"$DEVSIM" --ring "$T/ring" --dir "$SIM" -n $DEVICES --keepalive 500ms \
		>>"$T/devsim.log" 2>&1 &
	sim=$!
	PIDS+=("$sim")
	# Kill while records are coming in: 200 devices attach and publish
	# over the first second or so.
	# (devsim catches SIGUSR1 once it is up; ids.txt says it is.)
	wait_until 20 test -s "$SIM/ids.txt" || fail "round $round: devsim did not start"
	wait_until 20 some_acked "$sim" || fail "round $round: nothing acknowledged"
	sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
	dump_acked "$sim" || fail "devsim wrote no acked.txt"
	kill -KILL "${NODE_PID[0]}"
	kill -KILL "$sim"
	wait "${NODE_PID[0]}" "$sim" 2>/dev/null || true
	acked=$(awk '$2 > 0' "$SIM/acked.txt" | wc -l)
	mdb_stat -n -a "$T/node0.d/node.mdb" >"$T/stat.$round" 2>&1 || fail "round $round: mdb_stat: $(cat "$T/stat.$round")"
	for db in presence; do
		mdb_dump -n -s "$db" "$T/node0.d/node.mdb" >/dev/null 2>>"$T/dump.err" ||
			fail "round $round: mdb_dump $db: $(cat "$T/dump.err")"
	done
	start_node 0 --metrics "$METRICS"
	wait_until 10 has_records || fail "round $round: node does not start on its store (or lost every record)"
	lost=0
	while read -r id seq; do
		[ "$seq" -gt 0 ] || continue
		j=$("$CARRIER" lookup "$id" --json 2>/dev/null) || { lost=$((lost + 1)); continue; }
		[ "$(json_field "$j" seq)" -ge "$seq" ] || lost=$((lost + 1))
	done < <(shuf -n 40 "$SIM/acked.txt")
	[ "$lost" -eq 0 ] || fail "round $round: $lost acknowledged records missing after SIGKILL"
	ok "round $round: killed mid-stream with $acked devices acknowledged; store clean, $(records) records, sampled acknowledged records all there"
	kill -KILL "${NODE_PID[0]}"
	wait "${NODE_PID[0]}" 2>/dev/null || true
done
echo "PASS"
