#!/usr/bin/env bash
# Fleet rollouts in waves (docs/fleet.md "Rollouts"): 3 nodes, SIM_N
# simulated devices (tests/tools/fleetsim.c, each with its own key and
# session, signing its reports).  A release that fails on 10 % of wave 2
# halts `carrier deploy` (waves 1/10/50/100, max 5 %) before wave 3, with
# the reason, and no device outside waves 1-2 ever runs it; a healthy
# release reaches every device; `carrier status --json` agrees with the
# simulator's own state; a rollback returns every device to 2.0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"

rollout_setup
start_sim sim --fail-pct 10 --fail-wave 2 --fail-version 3.0
wait_until 60 all_attached "$SIM_N" || fail "the simulated devices did not attach"

# ---- a healthy release reaches 100 % -------------------------------------
"$CARRIER" deploy "$T/web-2.0.release" --to tag:site=lab --waves 1,10,50,100 \
	--max-failures 5% --health-window 300ms --timeout 120s >"$T/deploy2.out" 2>&1 ||
	fail "deploy 2.0: $(cat "$T/deploy2.out")"
grep -q "rollout of web 2.0 complete: $SIM_N of $SIM_N devices succeeded" "$T/deploy2.out" ||
	fail "deploy 2.0 did not complete: $(cat "$T/deploy2.out")"
grep -q "wave 4/4 (100%) opened" "$T/deploy2.out" || fail "no wave 4: $(cat "$T/deploy2.out")"
[ "$(sim_count sim succeeded 2.0)" -eq "$SIM_N" ] || fail "sim: not all run 2.0"
ok "2.0 reached all $SIM_N devices, wave by wave"

# status --json agrees with the simulator, device by device.
"$CARRIER" status web --json >"$T/status.json" || fail "status --json"
python3 - "$T/status.json" "$T/sim/state.json" "$SIM_N" <<'PY' || fail "status disagrees with the sim"
import json, sys
st = [json.loads(l) for l in open(sys.argv[1])]
sim = {json.loads(l)["device"]: json.loads(l) for l in open(sys.argv[2])}
assert len(st) == int(sys.argv[3]), len(st)
for o in st:
    assert set(o) == {"device", "name", "app", "version", "state", "online", "last_seen_ms", "health"}, o
    s = sim[o["device"]]
    assert (o["app"], o["version"], o["state"]) == (s["app"], s["version"], s["state"]), (o, s)
    assert o["online"] is True and isinstance(o["last_seen_ms"], int), o
PY
"$CARRIER" status web >"$T/status.txt" || fail "status"
grep -q "2.0 *succeeded *$SIM_N" "$T/status.txt" || fail "status summary: $(head -5 "$T/status.txt")"
ok "status --json agrees with the simulator for every device"

# ---- 10 % failures in wave 2 halt before wave 3 ---------------------------
rc=0
"$CARRIER" deploy "$T/web-3.0.release" --to tag:site=lab --waves 1,10,50,100 \
	--max-failures 5% --health-window 300ms --timeout 120s >"$T/deploy3.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "deploy 3.0 exit $rc: $(cat "$T/deploy3.out")"
grep -q "halted in wave 2/4 (10%)" "$T/deploy3.out" || fail "no halt reason: $(cat "$T/deploy3.out")"
grep -q "failed: health probe failed" "$T/deploy3.out" || fail "no device reason: $(cat "$T/deploy3.out")"
grep -q "wave 3/4 (50%) opened" "$T/deploy3.out" && fail "wave 3 opened: $(cat "$T/deploy3.out")"
# No device outside waves 1-2 ever started 3.0, even after a while.
sleep 3
awk '$2 == "3.0" && $3 > 2' "$T/sim/ran.txt" | grep -q . &&
	fail "devices outside waves 1-2 ran 3.0: $(awk '$2 == "3.0" && $3 > 2' "$T/sim/ran.txt" | head -3)"
ran=$(awk '$2 == "3.0"' "$T/sim/ran.txt" | wc -l)
[ "$ran" -ge 1 ] || fail "no device ran 3.0 at all"
[ "$(sim_count sim running 3.0)" -eq 0 ] || fail "a device still runs 3.0"
ok "3.0 halted in wave 2 ($ran devices tried it), none beyond"

# ---- rollback to 2.0 reaches every device ---------------------------------
"$CARRIER" rollback web --timeout 120s >"$T/rollback.out" 2>&1 ||
	fail "rollback: $(cat "$T/rollback.out")"
grep -q "rollback of web from 3.0 to 2.0" "$T/rollback.out" || fail "rollback: $(cat "$T/rollback.out")"
[ "$(sim_count sim succeeded 2.0)" -eq "$SIM_N" ] || fail "not every device runs 2.0 after the rollback"
"$CARRIER" status web --json >"$T/status2.json"
[ "$(grep -c '"version":"2.0","state":"succeeded"' "$T/status2.json")" -eq "$SIM_N" ] ||
	fail "status after rollback: $(head -3 "$T/status2.json")"
"$CARRIER" status --json >"$T/status-all.json" || fail "status --json (all apps)"
[ "$(wc -l <"$T/status-all.json")" -eq "$SIM_N" ] || fail "status of all apps: $(wc -l <"$T/status-all.json") lines"
ok "rollback returned all $SIM_N devices to 2.0"

# ---- a device attaching later gets only the newest deployment ---------------
start_sim late --seed late
wait_until 60 test -s "$T/late/ran.txt" || fail "late devices got no deployment"
late_done() { [ "$(sim_count late succeeded 2.0)" -eq "$SIM_N" ]; }
wait_until 60 late_done || fail "late devices did not all run 2.0: $(sim_count late succeeded 2.0)"
awk '$2 != "2.0"' "$T/late/ran.txt" | grep -q . && fail "late devices ran an older deployment: $(sort -u -k2,2 "$T/late/ran.txt" | head)"
ok "devices attaching later ran only the newest deployment (the rollback to 2.0)"

# ---- carrier watch: the deployment, then a line per device -------------------
timeout 8 "$CARRIER" watch web --json >"$T/watch.out" 2>"$T/watch.err" || true
grep -q '"event":"deployment","app":"web","version":"2.0"' "$T/watch.out" ||
	fail "watch: no deployment event: $(head -3 "$T/watch.out") $(cat "$T/watch.err")"
[ "$(grep -c '"event":"state".*"version":"2.0","state":"succeeded"' "$T/watch.out")" -eq $((2 * SIM_N)) ] ||
	fail "watch: $(grep -c '"event":"state"' "$T/watch.out") state events, want $((2 * SIM_N))"
grep -q '"event":"online"' "$T/watch.out" || fail "watch: no online event"
ok "watch streams the deployment and every device's state"
