#!/usr/bin/env bash
# A config applied by a reload signal (docs/fleet.md "Configuration"): a
# release made with `carrier release --reload-signal HUP` runs a busybox
# script that re-reads its config file on SIGHUP and serves what it read
# (in its /tmp, where the test reads it).  A config that changes only a
# file is applied by rewriting the file and sending SIGHUP: the app serves
# the new file with the same process and no restart.  A config that
# changes an environment value restarts the app (a process's environment
# is fixed at its start).  A config whose file fails the health probe is
# reverted, by a reload too: the file that passed is served again by the
# same process.  Outcomes are awaited with generous deadlines, never timed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apps_lib.sh"

W=2 # the deployment's health window and the agent's ring window, seconds

make_versions 1
start_origin "$T/origin"
make_trust
export CARRIER_KEY=$T/root.key CARRIER_TRUST=$T/trust CARRIER_DEPLOYMENTS=$T/hist
make_ring 1
start_node 0
D=$(device dev)
# load: the file (or "none") to /tmp/greeting, and how many loads so far.
"$CARRIER" release web:1 --image "$ORIGIN_URL" web:1 --counter 1 --arch "$ARCH" \
	--key "$T/rel1.key" -o "$T/r1" --health 'exec:test "$(cat /tmp/greeting)" != broken' \
	--reload-signal HUP -- sh -c 'echo "${MODE:-none}" >/tmp/mode
n=0
load() {
	n=$((n + 1))
	cat /run/korhal/config/GREETING >/tmp/greeting 2>/dev/null || echo none >/tmp/greeting
	echo $n >/tmp/loads
}
trap load HUP
load
while :; do sleep 1; done' >/dev/null
"$CARRIER" release sign "$T/r1" --key "$T/rel2.key" >/dev/null
"$CARRIER" release show "$T/r1" >"$T/show.out" 2>&1 || fail "release show: $(cat "$T/show.out")"
grep -q "^config applied by: SIGHUP$" "$T/show.out" || fail "release show: $(cat "$T/show.out")"
"$CARRIER" release show "$T/r1" --json | grep -q '"reload_signal":"HUP"' ||
	fail "release show --json: $("$CARRIER" release show "$T/r1" --json)"
rc=0
"$CARRIER" release web:2 --image "$ORIGIN_URL" web:1 --counter 2 --arch "$ARCH" \
	--key "$T/rel1.key" -o "$T/r2" --reload-signal TERM >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -q "reload signal 'TERM': want HUP, USR1 or USR2" "$T/bad.out" ||
	fail "--reload-signal TERM: exit $rc: $(cat "$T/bad.out")"
ok "release --reload-signal HUP is signed into the release and shown; TERM is refused"

start_apps_agent --health-interval 1s --config-ring-window ${W}s
wait_until 30 grep -q "attached to node" "$T/dev.log" || fail "the agent did not attach"
"$CARRIER" deploy "$T/r1" --to "$D" --waves 100 --health-window ${W}s --detach \
	>"$T/dep.out" 2>&1 || fail "deploy: $(cat "$T/dep.out")"

app_pid() { "$BOLTER" --root "$DEV/bolter" state web+1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }
ROOT=$DEV/apps/web/versions/1/upper/tmp # what in_app reads
wait_until 90 app_field_is state committed || fail "web 1 did not commit: $(agent_ctl apps --json)"
wait_until 10 in_app greeting none || fail "the app did not start: $(cat "$ROOT/greeting")"
pid0=$(app_pid)
restarts0=$(app_field restarts)

# ---- a file change: rewritten, SIGHUP, served by the same process ------------------
printf 'hello\n' >"$T/g1"
"$CARRIER" config set "$D" web "GREETING=@$T/g1" --version 10 >"$T/set.out" 2>&1 ||
	fail "config set: $(cat "$T/set.out")"
wait_until 60 app_field_is config_version 10 ||
	fail "config 10 was not applied: $(agent_ctl apps --json); $(grep config "$T/dev.log")"
in_app greeting hello || fail "the app serves: $(cat "$ROOT/greeting")"
in_app loads 2 || fail "loads: $(cat "$ROOT/loads")"
[ "$(app_pid)" = "$pid0" ] && app_field_is restarts "$restarts0" ||
	fail "the app was restarted: pid $(app_pid) (was $pid0), $(agent_ctl apps --json)"
grep -q "app web: applying config 10 to 1: its files, then SIGHUP" "$T/dev.log" ||
	fail "the agent's log: $(grep config "$T/dev.log")"
ok "a config changing a file is applied by SIGHUP: the new file is served by the same process, no restart"

# ---- an environment value: a restart -----------------------------------------------
"$CARRIER" config set "$D" web MODE=two "GREETING=@$T/g1" --version 20 >"$T/set.out" 2>&1 ||
	fail "config set 20: $(cat "$T/set.out")"
wait_until 60 app_field_is config_version 20 || fail "config 20: $(agent_ctl apps --json)"
in_app mode two || fail "MODE in the app: $(cat "$ROOT/mode")"
pid1=$(app_pid)
[ "$pid1" != "$pid0" ] && in_app loads 1 && in_app greeting hello ||
	fail "not restarted: pid $pid1 (was $pid0), loads $(cat "$ROOT/loads")"
ok "a config changing an environment value restarts the app"

# ---- a file that fails the health probe: reverted by a reload ----------------------
printf 'broken\n' >"$T/g2"
"$CARRIER" config set "$D" web MODE=two "GREETING=@$T/g2" --version 30 >"$T/set.out" 2>&1 ||
	fail "config set 30: $(cat "$T/set.out")"
wait_until 30 app_field_is config_trying 30 || fail "config 30 was not tried: $(agent_ctl apps --json)"
wait_until 60 app_field_is config_trying 0 || fail "config 30 never ended: $(agent_ctl apps --json)"
app_field_is config_version 20 || fail "after config 30: $(agent_ctl apps --json)"
app_field config_error | grep -q "^config 30 reverted: health: " || fail "the reason: $(app_field config_error)"
wait_until 20 in_app greeting hello || fail "the app after the revert: $(cat "$ROOT/greeting")"
# Loaded at start, for 30, for the revert: three times, one process.
in_app loads 3 && [ "$(app_pid)" = "$pid1" ] ||
	fail "the revert restarted the app: pid $(app_pid) (was $pid1), loads $(cat "$ROOT/loads")"
ok "a config failing its health window is reverted by a reload: the file that passed is served again, same process"
