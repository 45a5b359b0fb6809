#!/usr/bin/env bash
# A Byzantine minority changes nothing: 7 nodes, 2 of them in the test-only
# --byzantine mode (they drop relayed traffic, claim every device is
# attached to them, answer lookups with stale or forged records, and offer
# ring configurations of a higher epoch that the operator never signed).
# Every device stays reachable through the real CLI path; the CLI keeps
# exactly the newest record each device's home nodes acknowledged; the
# CLI, the agents and the honest nodes refuse every bogus epoch.
. "$(dirname "$0")/lib.sh"
: "${DEVSIM:?run through ctest}"
# Built without CR_TEST_MODES: no lying node to test.  (The help is read
# whole first: grep -q closing the pipe early made pipefail skip the test.)
node_help=$("$CARRIER_NODE" --help)
grep -q -- --byzantine <<<"$node_help" || exit 77

NODES=7 DEVICES=100
make_ring $NODES
mapfile -t byz < <(shuf -n 2 -e $(seq 0 $((NODES - 1))))
is_byz() { [[ " ${byz[*]} " == *" $1 "* ]]; }
honest=()
for i in $(seq 0 $((NODES - 1))); do
	if is_byz "$i"; then
		start_node_metrics "$i" --byzantine
	else
		start_node_metrics "$i"
		honest+=("$i")
	fi
done
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key
SIM=$(mktemp -d /dev/shm/korhal-sim.XXXXXX 2>/dev/null) || SIM=$T/sim
trap 'rc=$?; set +e; [ "$SIM" = "$T/sim" ] || rm -rf "$SIM"; (exit $rc); cleanup' EXIT

# Devices hold sessions with 3 home nodes: with 2 liars, at least one honest.
start_sim() {
	rm -f "$SIM/ids.txt"
	"$DEVSIM" --ring "$T/ring" --dir "$SIM" -n $DEVICES --keepalive 500ms \
		--attach 3 --allow "$ven_id:9" >>"$T/devsim.log" 2>&1 &
	SIM_PID=$!
	PIDS+=("$!")
	# devsim catches SIGUSR1 once it is up; ids.txt says it is.
	wait_until 30 test -s "$SIM/ids.txt" || fail "devsim did not start"
}
# all_acked [BEFORE]: every device's acknowledged sequence is above the one
# it had in the file BEFORE (above 0 without one).
all_acked() {
	rm -f "$SIM/acked.txt"
	kill -USR1 "$SIM_PID"
	wait_until 20 test -s "$SIM/acked.txt" || return 1
	[ "$(newer "${1:-/dev/null}" | wc -l)" -eq $DEVICES ]
}
# compare BEFORE OP: the lines of acked.txt whose sequence is OP (">" or
# "<=") the device's sequence in BEFORE (0 when it has none there).
compare() {
	awk -v before="$1" -v op="$2" '
		BEGIN { while ((getline l < before) > 0) { split(l, f, " "); old[f[1]] = f[2] } }
		(op == ">") == ($2 > old[$1] + 0)' "$SIM/acked.txt"
}
newer() { compare "$1" ">"; }
# behind [BEFORE]: the devices whose acknowledged sequence is not above it yet.
behind() {
	local b=${1:-/dev/null}
	echo "$(( DEVICES - $(newer "$b" | wc -l) )) of $DEVICES not acknowledged above" \
		"their earlier sequence, e.g. $(compare "$b" "<=" | head -3 | tr '\n' ' ')"
}
start_sim
wait_until 60 all_acked || fail "devices not acknowledged: $(behind)"
echo "liars: ${byz[*]} at $(for b in "${byz[@]}"; do echo -n "${NODE_ADDR[$b]} "; done)"
cp "$SIM/acked.txt" "$T/acked1.txt"
# A second life of the devices: new records, so that the liars, which
# keep the first record they saw, have stale ones to hand out.  Each
# device's sequence is above its own last one (kept in its data folder).
kill -TERM "$SIM_PID"
wait "$SIM_PID" 2>/dev/null || true
start_sim
wait_until 60 all_acked "$T/acked1.txt" || fail "devices not acknowledged again: $(behind "$T/acked1.txt")"
cp "$SIM/acked.txt" "$T/acked.txt"
ok "$DEVICES devices on $NODES nodes, liars: ${byz[*]}"

# Ten CLI processes at once, ten devices each.
split -n l/10 -d "$SIM/ids.txt" "$T/part."
pids=()
for f in "$T"/part.*; do
	"$CARRIER" ping --batch "$f" --within 60s >"$T/out.${f##*.}" 2>>"$T/ping.err" &
	pids+=("$!")
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
reached=$(cat "$T"/out.* | grep -c " reached after ")
[ "$rc" -eq 0 ] && [ "$reached" -eq $DEVICES ] ||
	fail "not every device reachable: $(grep -h unreachable "$T"/out.* | head -3)"
echo "RESULT with nodes ${byz[*]} of $NODES Byzantine: $reached of $DEVICES devices reached; slowest $(sed -n 's/.* reached after \([0-9]*\) ms.*/\1/p' "$T"/out.* | sort -n | tail -1) ms"
drops=$(sum_metric 'carrier_node_drops_total{reason="byzantine"}' "${byz[@]}")
lies=$(sum_metric carrier_node_byzantine_lies_total "${byz[@]}")
[ "$drops" -gt 0 ] && [ "$lies" -gt 0 ] ||
	fail "the liars dropped $drops relayed datagrams and told $lies lies: the test proved nothing"
ok "every device reachable through the real CLI path although the liars dropped $drops relayed datagrams"

# What the devices' home nodes acknowledged now: every lookup must keep at
# least that (never a stale record), and no forged one gets past the
# signature check (rejected counts the forgeries refused).
all_acked "$T/acked1.txt" || fail "devices not acknowledged: $(behind "$T/acked1.txt")"
cp "$SIM/acked.txt" "$T/acked.txt"
bad=0 rejected=0 stale=0
while read -r id seq; do
	j=$("$CARRIER" lookup "$id" --json 2>>"$T/lookup.err") || { bad=$((bad + 1)); continue; }
	[ "$(json_field "$j" seq)" -ge "$seq" ] || { echo "  $id: kept $(json_field "$j" seq), acknowledged $seq"; bad=$((bad + 1)); }
	rejected=$((rejected + $(json_field "$j" rejected)))
	stale=$((stale + $(json_field "$j" stale)))
done <"$T/acked.txt"
[ "$bad" -eq 0 ] || fail "$bad lookups kept an older record than the acknowledged one"
[ "$rejected" -gt 0 ] && [ "$stale" -gt 0 ] ||
	fail "no forged ($rejected) or no stale ($stale) answers seen: the liars did not lie"
ok "every lookup kept the acknowledged record or a newer one; refused $rejected forged and passed over $stale stale answers"

# Bogus epochs: offered to everyone, taken by no one.
for i in "${honest[@]}"; do
	[ "$(metric "$i" carrier_node_ring_epoch)" = 1 ] || fail "honest node $i left epoch 1"
done
[ "$(sum_metric carrier_node_rings_refused_total "${honest[@]}")" -gt 0 ] || fail "no bogus ring offered to the honest nodes"
grep -q "refused ring configuration epoch 1001" "$T/devsim.log" || fail "no bogus ring offered to the agents"
grep -q "accepted ring configuration" "$T/devsim.log" && fail "an agent took a bogus ring"
ls "$SIM"/dev*.d/ring >/dev/null 2>&1 && fail "an agent saved a ring"
grep -q "refused ring configuration epoch 1001" "$T/ping.err" "$T/lookup.err" || fail "no bogus ring offered to the CLI"
grep -q "saved to" "$T/ping.err" "$T/lookup.err" && fail "the CLI saved a bogus ring"
grep -q "^korhal-ring-v1" "$T/ring" && "$CARRIER" ring status 2>/dev/null | grep -q "epoch 1, operator" || fail "the vendor's ring changed"
ok "bogus epochs refused by the honest nodes ($(sum_metric carrier_node_rings_refused_total "${honest[@]}")), the agents and the CLI"
echo "PASS"
