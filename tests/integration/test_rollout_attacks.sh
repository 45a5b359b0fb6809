#!/usr/bin/env bash
# Rollout attacks (docs/fleet.md "Rollouts", research/fleet.md 3(b)):
#  - forged success reports (naming silent devices, signed by other keys)
#    never advance a wave: the nodes refuse them, and `carrier deploy`
#    stays paused at wave 1 until its --timeout;
#  - a deployment replayed to devices it does not target is refused by
#    each of them ("replay") and runs nowhere;
#  - an expired deployment replayed to its devices (a freeze) makes them
#    report stale, never run it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"

rollout_setup
start_sim sim --silent-wave 1 --forge
SIM=$SIM_PID
wait_until 60 all_attached "$SIM_N" || fail "the simulated devices did not attach"

# ---- forged successes never advance ----------------------------------------
rc=0
"$CARRIER" deploy "$T/web-2.0.release" --to tag:site=lab --waves 10,50,100 \
	--max-failures 5% --health-window 200ms --timeout 10s >"$T/deploy.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "deploy exit $rc: $(cat "$T/deploy.out")"
grep -q "stopped following web 2.0 at wave 1/3; the rollout stays paused" "$T/deploy.out" ||
	fail "deploy did not pause at wave 1: $(cat "$T/deploy.out")"
grep -q "opened" "$T/deploy.out" && fail "a wave opened on forged reports: $(cat "$T/deploy.out")"
grep -q "wave 1/3 (10%): [1-9][0-9]* devices, 0 succeeded" "$T/deploy.out" ||
	fail "forged successes were counted: $(cat "$T/deploy.out")"
grep -q "refused a fleet record from dev_.*status report: not signed by the device it names\|does not verify" \
	"$T"/node*.log || fail "no node refused a forged report"
awk '$3 > 1' "$T/sim/ran.txt" | grep -q . && fail "devices beyond wave 1 ran 2.0"
"$CARRIER" status web --json >"$T/status.json"
grep -q '"state":"succeeded"' "$T/status.json" && fail "status shows a forged success"
ok "forged success reports advanced nothing (paused at wave 1)"
kill "$SIM"; wait "$SIM" 2>/dev/null || true

# ---- a replay to devices not targeted --------------------------------------
ids=$(head -5 "$T/sim/ids.txt" | paste -sd,)
"$CARRIER" deploy "$T/web-3.0.release" --to "$ids" --waves 100 --detach >"$T/d3.out" 2>&1 ||
	fail "deploy --detach: $(cat "$T/d3.out")"
dep=$(ls -t "$XDG_CONFIG_HOME"/carrier/deployments/*/web/*.deployment | head -1)
[ -f "$dep" ] || fail "no deployment in the history"
start_sim other --seed other --inject "$dep"
replays() { [ "$(grep -c "replay: deployment of web seq" "$T/other/refused.txt" 2>/dev/null)" -eq "$SIM_N" ]; }
wait_until 30 replays ||
	fail "not every untargeted device refused the replay: $(wc -l <"$T/other/refused.txt")"
[ -s "$T/other/ran.txt" ] && fail "an untargeted device ran the replayed deployment"
ok "a replayed deployment was refused by all $SIM_N devices it does not target"
kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true

# ---- an expired deployment: stale ------------------------------------------
"$CARRIER" deploy "$T/web-3.0.release" --to tag:site=frozen --waves 100 --expires 2s \
	--detach >"$T/d4.out" 2>&1 || fail "deploy --expires: $(cat "$T/d4.out")"
dep=$(ls -t "$XDG_CONFIG_HOME"/carrier/deployments/*/web/*.deployment | head -1)
sleep 3
start_sim frozen --seed frozen --tag site=frozen --inject "$dep"
stale() { [ "$(sim_count frozen stale 1.0)" -eq "$SIM_N" ]; }
wait_until 30 stale ||
	fail "devices did not report stale: $(sim_count frozen stale 1.0) of $SIM_N"
[ -s "$T/frozen/ran.txt" ] && fail "a device ran an expired deployment"
ok "an expired deployment made all $SIM_N devices report stale, none ran it"
