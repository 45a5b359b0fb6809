#!/usr/bin/env bash
# Half the ring malicious (issue 17, docs/design/ring-cluster.md "Byzantine
# test mode"): 6 nodes, 3 of them liars, each playing a different set of
# roles, so that every presence role is played at once:
#   A drop,stale,nostore,flood      B delay,forge,misroute,liveness
#   C other,replay,epoch
# 300 devices (devsim: real agents in one process, 100 under ASan) at the
# agent's default settings: attached to as many nodes as hold their record
# (the ring's home sets, a majority: 4 of 6, so at least one honest node
# whatever the liars), pinging each every 30 s; vendors connecting
# throughout.  Every device answers end-to-end pings; no
# vendor ever gets a session with a key other than the device it named;
# every lookup keeps the newest acknowledged record (stale, forged and other
# devices' records are refused); no honest node, agent or CLI takes a
# bogus epoch; and every role was played (its lies counted by the liars).
. "$(dirname "$0")/lib.sh"
: "${DEVSIM:?run through ctest}"
ok() { echo "ok (${SECONDS} s): $*"; }
node_help=$("$CARRIER_NODE" --help)
grep -q -- "--byzantine\[=ROLES\]" <<<"$node_help" || exit 77

NODES=6 DEVICES=300
[ "$KORHAL_ASAN" = 1 ] && DEVICES=100
ROLES=(drop,stale,nostore,flood delay,forge,misroute,liveness other,replay,epoch)
make_ring $NODES
mapfile -t byz < <(shuf -n 3 -e $(seq 0 $((NODES - 1))))
honest=()
for i in $(seq 0 $((NODES - 1))); do
	role=""
	for k in 0 1 2; do [ "${byz[$k]}" = "$i" ] && role=${ROLES[$k]}; done
	if [ -n "$role" ]; then
		start_node_metrics "$i" --byzantine="$role"
	else
		start_node_metrics "$i"
		honest+=("$i")
	fi
done
for k in 0 1 2; do echo "node ${byz[$k]} (${NODE_ADDR[${byz[$k]}]}): ${ROLES[$k]}"; done
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key
SIM=$(mktemp -d /dev/shm/korhal-sim.XXXXXX 2>/dev/null) || SIM=$T/sim
trap 'rc=$?; set +e; [ "$SIM" = "$T/sim" ] || rm -rf "$SIM"; (exit $rc); cleanup' EXIT

start_sim() {
	rm -f "$SIM/ids.txt"
	"$DEVSIM" --ring "$T/ring" --dir "$SIM" -n $DEVICES \
		--allow "$ven_id:9" >>"$T/devsim.log" 2>&1 &
	SIM_PID=$!
	PIDS+=("$!")
	wait_until 30 test -s "$SIM/ids.txt" || fail "devsim did not start"
}
# all_acked [BEFORE]: every device's acknowledged sequence is above the
# one it had in BEFORE (above 0 without).
all_acked() {
	rm -f "$SIM/acked.txt"
	kill -USR1 "$SIM_PID"
	wait_until 20 test -s "$SIM/acked.txt" || return 1
	[ "$(awk -v b="${1:-/dev/null}" '
		BEGIN { while ((getline l < b) > 0) { split(l, f, " "); old[f[1]] = f[2] } }
		$2 > old[$1] + 0' "$SIM/acked.txt" | wc -l)" -eq $DEVICES ]
}
start_sim
wait_until 180 all_acked || fail "devices not acknowledged"
cp "$SIM/acked.txt" "$T/acked1.txt"
# At default settings every device holds sessions with 4 nodes (the
# ring's home-set size), so at least one of them honest.
all=$(seq 0 $((NODES - 1)))
# shellcheck disable=SC2086
four_links() { [ "$(sum_metric carrier_node_devices_attached $all)" -eq $((4 * DEVICES)) ]; }
# shellcheck disable=SC2086
wait_until 60 four_links || fail "$(sum_metric carrier_node_devices_attached $all) device sessions on the nodes, not $((4 * DEVICES))"
ok "each device attached to 4 nodes at default settings"
# A second life: new records, so that the liars have stale ones to give.
kill -TERM "$SIM_PID"
wait "$SIM_PID" 2>/dev/null || true
start_sim
wait_until 180 all_acked "$T/acked1.txt" || fail "devices not acknowledged again"
ok "$DEVICES devices acknowledged twice on $NODES nodes, 3 of them liars"

# Vendors connecting throughout: three CLI processes reaching random
# devices, five at a time, until the end of the checks below.
vendors() {
	local v=$1
	while [ ! -e "$T/stop" ]; do
		shuf -n 5 "$SIM/ids.txt" >"$T/v$v.ids"
		"$CARRIER" ping --batch "$T/v$v.ids" --within 120s >>"$T/v$v.out" 2>>"$T/v$v.err" ||
			echo "round failed" >>"$T/v$v.out"
	done
	touch "$T/v$v.done"
}
for v in 1 2 3; do vendors $v & PIDS+=("$!"); done

# Every device, through the real CLI path: 30 processes at once.
split -n l/30 -d "$SIM/ids.txt" "$T/part."
pids=()
for f in "$T"/part.*; do
	"$CARRIER" ping --batch "$f" --within 120s >"$T/out.${f##*.}" 2>>"$T/ping.err" &
	pids+=("$!")
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
reached=$(cat "$T"/out.* | grep -c " reached after " || true)
[ "$rc" -eq 0 ] && [ "$reached" -eq $DEVICES ] ||
	fail "$reached of $DEVICES reachable: $(grep -h unreachable "$T"/out.* "$T/ping.err" | head -3)"
ok "all $DEVICES devices reached; slowest $(sed -n 's/.* reached after \([0-9]*\) ms.*/\1/p' "$T"/out.* | sort -n | tail -1) ms"

# Lookups: each keeps at least the acknowledged record.
all_acked "$T/acked1.txt" || fail "devices not acknowledged"
cp "$SIM/acked.txt" "$T/acked.txt"
split -n l/3 -d "$T/acked.txt" "$T/lk."
lookups() {
	while read -r id seq; do
		if j=$("$CARRIER" lookup "$id" --json 2>>"$T/lookup.err"); then
			# The record taken must be the named device's.
			got=$(sed -n 's/^{"device":"\([a-z0-9_]*\)".*/\1/p' <<<"$j")
			[ "$got" = "$id" ] || { echo "$id $seq other-device 0 0"; continue; }
			echo "$id $seq $(json_field "$j" seq) $(json_field "$j" rejected) $(json_field "$j" stale)"
		else
			echo "$id $seq failed 0 0"
		fi
	done <"$1"
}
pids=()
for f in "$T"/lk.*; do lookups "$f" >"$f.res" & pids+=("$!"); done
for p in "${pids[@]}"; do wait "$p"; done
cat "$T"/lk.*.res >"$T/lookups.txt"
[ "$(wc -l <"$T/lookups.txt")" -eq $DEVICES ] || fail "lookups: $(wc -l <"$T/lookups.txt") answers"
wrong=$(awk '$3 !~ /^[0-9]+$/ || $3 < $2' "$T/lookups.txt" | wc -l)
[ "$wrong" -eq 0 ] || fail "$wrong lookups kept an older record than the acknowledged one, another device's, or none: $(awk '$3 !~ /^[0-9]+$/ || $3 < $2' "$T/lookups.txt" | head -3)"
rejected=$(awk '{s += $4} END {print s + 0}' "$T/lookups.txt")
stale=$(awk '{s += $5} END {print s + 0}' "$T/lookups.txt")
[ "$rejected" -gt 0 ] && [ "$stale" -gt 0 ] ||
	fail "no forged or other device's ($rejected) or no stale ($stale) answers seen"
ok "every lookup kept the acknowledged record or newer: 0 wrong of $DEVICES; refused $rejected forged or other devices' records, passed over $stale stale"

# The vendors stop; every round they ran reached its devices.
touch "$T/stop"
vendors_done() { [ -e "$T/v1.done" ] && [ -e "$T/v2.done" ] && [ -e "$T/v3.done" ]; }
wait_until 180 vendors_done || fail "vendors did not stop"
rounds=$(cat "$T"/v?.out | grep -c " reached after " || true)
failed=$(cat "$T"/v?.out | grep -c "round failed\|unreachable" || true)
[ "$rounds" -gt 0 ] && [ "$failed" -eq 0 ] ||
	fail "vendors throughout: $rounds reached, $failed failed: $(grep -h "unreachable\|failed" "$T"/v?.out "$T"/v?.err | head -3)"
ok "vendors connecting throughout reached $rounds devices, none failed"

# Never a session with another key: the CLI checks the key of every
# end-to-end session, and the misrouting liar did send vendors elsewhere.
wrongkey=$(cat "$T/ping.err" "$T"/v?.err | grep -c "not the device's" || true)
[ "$wrongkey" -eq 0 ] || fail "$wrongkey end-to-end sessions with another key"

# Every role was played.
for k in 0 1 2; do
	for r in ${ROLES[$k]//,/ }; do
		n=$(metric "${byz[$k]}" "carrier_node_byzantine_told_total{role=\"$r\"}")
		[ "${n:-0}" -gt 0 ] || fail "node ${byz[$k]} never played $r"
		echo "  node ${byz[$k]} $r: $n lies"
	done
done
ok "every role played; 0 sessions with a key other than the device named"

# Floods and replays refused by the honest nodes; epochs unmoved.
[ "$(sum_metric carrier_node_replicas_rejected_total "${honest[@]}")" -gt 0 ] ||
	fail "the honest nodes refused no forged replica"
for i in "${honest[@]}"; do
	[ "$(metric "$i" carrier_node_ring_epoch)" = 1 ] || fail "honest node $i left epoch 1"
done
[ "$(sum_metric carrier_node_rings_refused_total "${honest[@]}")" -gt 0 ] || fail "no bogus ring offered to the honest nodes"
grep -q "accepted ring configuration" "$T/devsim.log" && fail "an agent took a bogus ring"
ls "$SIM"/dev*.d/ring >/dev/null 2>&1 && fail "an agent saved a ring"
grep -q "saved to" "$T/ping.err" "$T/lookup.err" "$T"/v?.err && fail "the CLI saved a bogus ring"
"$CARRIER" ring status 2>/dev/null | grep -q "epoch 1, operator" || fail "the vendor's ring changed"
ok "forged replicas ($(sum_metric carrier_node_replicas_rejected_total "${honest[@]}")) and bogus epochs ($(sum_metric carrier_node_rings_refused_total "${honest[@]}")) refused by every honest party"
echo "PASS"
