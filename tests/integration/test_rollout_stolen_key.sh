#!/usr/bin/env bash
# A stolen rollout key drill (research/fleet.md 3(b) "Key compromise",
# docs/fleet.md "Attacks"): the attacker holds the rollout key only, not
# the release keys (2 of 2).  A real agent on a one-node loopback ring ran
# web v1 and then v3 (counter floor 3); v2 was released but never ran.
# With the rollout key alone:
#  - a deployment of v2 (released, below the floor) is refused:
#    "rollback: release counter 2 is below the committed 3", in the
#    device's report (the deploy halts naming it) and log;
#  - a rollback deployment of v2 (not a version the device keeps) is
#    refused the same way;
#  - an unreleased version (a release signed by the rollout key) cannot be
#    deployed: carrier deploy refuses to sign it, and a hand-forged
#    deployment pushed to 50 simulated devices as by a lying node is
#    refused by each: "arbitrary software: ... release signatures".
# The agent keeps running v3 at floor 3 throughout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apps_lib.sh"
: "${FLEETSIM:?run through ctest}"

lab_setup 3

deploy() { lab_deploy "$1" "$2" 30s; }
on_v3() {
	[ "$(app_field running)" = 3 ] && [ "$(app_field version)" = 3 ] &&
		[ "$(app_field counter_floor)" = 3 ]
}

# ---- the vendor: v1, then v3.  v2 is released, never deployed.
release 1 1 "$T/r1"
release 2 2 "$T/r2"
release 3 3 "$T/r3"
deploy "$T/r1" "$T/deploy1.out" || fail "deploy v1: $(cat "$T/deploy1.out")"
deploy "$T/r3" "$T/deploy3.out" || fail "deploy v3: $(cat "$T/deploy3.out")"
on_v3 || fail "v3 did not commit: $(agent_ctl apps --json)"

# ---- the attacker, with the rollout key only.
# refused OUT WHAT: the deploy halted on the device's refusal naming the
# rollback attack, which its log names too; v3 runs on.
refused() {
	grep -q "halted in wave" "$1" || fail "$2: the deploy did not halt: $(cat "$1")"
	grep -q "refused: rollback: release counter 2 is below the committed 3" "$1" ||
		fail "$2: the report does not name the attack: $(cat "$1")"
	grep -q "deployment seq [0-9]*: refused 3: rollback: release counter 2 is below the committed 3" \
		"$T/dev.log" || fail "$2: the device's log does not name it"
	on_v3 || fail "$2: the agent left v3: $(agent_ctl apps --json)"
}
: >"$ORIGIN_LOG"
rc=0
deploy "$T/r2" "$T/below.out" || rc=$?
[ "$rc" = 1 ] || fail "below the floor: deploy exit $rc: $(cat "$T/below.out")"
refused "$T/below.out" "below the floor"
ok "a deployment below the floor is refused, named 'rollback' in the report and log"

n=$(grep -c "refused 3: rollback" "$T/dev.log")
rc=0
"$CARRIER" rollback web --release "$T/r2" --timeout 30s >"$T/rollback.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "rollback to v2: exit $rc: $(cat "$T/rollback.out")"
more_refused() { [ "$(grep -c "refused 3: rollback" "$T/dev.log")" -gt "$n" ]; }
wait_until 10 more_refused ||
	fail "the rollback deployment was not refused: $(cat "$T/rollback.out")"
refused "$T/rollback.out" "rollback to a dropped version"
[ -s "$ORIGIN_LOG" ] && fail "a refused deployment downloaded: $(head -3 "$ORIGIN_LOG")"
ok "a rollback to a version the device does not keep is refused the same way; nothing downloaded"

# ---- an unreleased version: signed by the rollout key, not the release keys.
"$CARRIER" release web:9 --image "$ORIGIN_URL" web:3 --counter 9 --arch "$ARCH" \
	--key "$T/roll.key" -o "$T/r9" -- true >/dev/null || fail "carrier release"
rc=0
deploy "$T/r9" "$T/unreleased.out" || rc=$?
[ "$rc" != 0 ] || fail "carrier deploy signed an unreleased version: $(cat "$T/unreleased.out")"
grep -q "release: 0 of 2 release signatures" "$T/unreleased.out" ||
	fail "carrier deploy did not say why: $(cat "$T/unreleased.out")"
grep -q "deployment of web 9\|app web: deployment seq .* of 9" "$T/dev.log" &&
	fail "the agent took the unreleased version"
on_v3 || fail "the agent left v3: $(agent_ctl apps --json)"
# The forged deployment, pushed to simulated devices as by a lying node.
"$(dirname "$DEVSIM")/mkrelease" deployment -o "$T/forged" --trust "$T/trust" \
	--release "$T/r9" --key "$T/roll.key" --tag site=lab --seq "$(date +%s%3N)" ||
	fail "mkrelease deployment"
SIM_N=50
mkdir -p "$T/sim"
"$FLEETSIM" --ring "$T/ring" --trust "$T/trust" --dir "$T/sim" -n "$SIM_N" \
	--tag site=lab --version 3 --inject "$T/forged" >>"$T/sim.log" 2>&1 &
SIM=$!
PIDS+=("$!")
forged() {
	[ "$(grep -c "arbitrary software: .*release: 0 of 2 release signatures" \
		"$T/sim/refused.txt" 2>/dev/null)" -eq "$SIM_N" ]
}
wait_until 30 forged || fail "not every device refused the forgery: $(head -3 "$T/sim/refused.txt" 2>/dev/null)"
kill "$SIM"; wait "$SIM" 2>/dev/null || true
# ran.txt: "DEVICE VERSION WAVE UNIX_MS".  The simulated devices keep no
# counter floor, so the rollback deployment of v2 above may reach them
# and run: only version 9 is the forgery.
awk '$2 == 9' "$T/sim/ran.txt" | grep -q . &&
	fail "a simulated device ran the unreleased version: $(awk '$2 == 9' "$T/sim/ran.txt" | head -3)"
ok "an unreleased version: carrier deploy refuses it, and $SIM_N devices refuse a forged deployment of it ('arbitrary software')"
