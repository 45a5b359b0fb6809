#!/usr/bin/env bash
# Power cuts across the switch (docs/agent-apps.md, "Recovery"): the agent
# and every process of the app are SIGKILLed at random points of a switch
# (pull, verify, stage, start, health window, commit, rollback, clean-up);
# the store must verify right after the cut, and once the agent is started
# again, by itself: the journal ends committed or rolled_back, exactly one
# version runs, it is the old or the new one, and it serves.
# 20 cuts by default (10 under ASan, where each takes twice as long: the
# points are random either way), 100 with KORHAL_LONG set.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apps_lib.sh"

N=20
[ "$KORHAL_ASAN" != 1 ] || N=10
[ -z "${KORHAL_LONG:-}" ] || N=100
W=2
# A new version per switch (each pulls what changed, and each commit past
# the third evicts a version: the clean-up and gc are cut into too); every
# third fails its probe (a rollback to cut into).
apps_setup $((N + 1))
release 1 1 "$T/r"
agent_ctl install "$T/r" --health-window ${W}s >/dev/null 2>"$T/err" ||
	fail "first install: $(cat "$T/err")"
old=1

kill_all() {
	local id pid
	kill -KILL "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null || true
	for id in $("$BOLTER" --root "$DEV/bolter" list -q 2>/dev/null); do
		pid=$("$BOLTER" --root "$DEV/bolter" state "$id" 2>/dev/null |
			sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
		[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
	done
}

terminal() { case "$(app_field state)" in committed | rolled_back) return 0 ;; esac; return 1; }
one_running() { [ "$(running_versions | wc -l)" = 1 ]; }
serves() { [ "$(serving)" = "web v$1" ]; }

# A cut in the middle of bolter's delete (or create) leaves the running
# version's container folder without its state.json: bolter's list does
# not show it, and the restarted agent must still start that version
# again (it used to fail for ever: "container web+1 already exists").
wait_until 60 one_running || fail "version 1 does not run"
kill_all
rm -f "$DEV/bolter/web+1/state.json"
[ -d "$DEV/bolter/web+1" ] || fail "no container folder web+1 to leave behind"
start_apps_agent
wait_until 60 one_running || fail "a stateless container folder kept version 1 from starting again: $(tail -5 "$T/dev.log")"
wait_until 30 serves 1 || fail "version 1 does not serve after the restart: '$(serving)'"
ok "a container folder left without its state did not keep its version from starting again"

cuts=() # "state at the cut -> state after"
for i in $(seq 1 "$N"); do
	new=$((i + 1))
	if [ $((i % 3)) = 0 ]; then
		release "$new" "$new" "$T/r" "http:$APP_PORT/missing"
	else
		release "$new" "$new" "$T/r"
	fi
	agent_ctl install "$T/r" --health-window ${W}s --no-wait >/dev/null 2>"$T/err" ||
		fail "cut $i: install: $(cat "$T/err")"
	# Half of the cuts early (pull, verify, stage, the start), half
	# anywhere up to past the window (health, commit, rollback, gc).
	if [ $((RANDOM % 2)) = 0 ]; then ms=$((RANDOM % 250)); else ms=$((RANDOM % ((W + 3) * 1000))); fi
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill_all
	lines=$(wc -l <"$T/dev.log")
	wait_until 10 flock -n "$DEV/archon/lock" true || fail "cut $i: the store stays locked"
	"$ARCHON" --store "$DEV/archon" verify >"$T/verify" 2>&1 ||
		fail "cut $i (${ms} ms): archon verify: $(cat "$T/verify")"
	start_apps_agent
	wait_until 60 terminal || fail "cut $i (${ms} ms): the journal stays $(app_field state)"
	# What the restarted agent found, in its own words.
	at=$(tail -n +$((lines + 1)) "$T/dev.log" |
		sed -n -e 's/.*resuming the switch.*/resumed/p' \
			-e 's/.*the agent restarted during \([a-z_]*\);.*/\1/p' | head -n 1)
	at=${at:-terminal}
	# Generous: the version it ends on may still be starting (a loaded
	# machine), and only the outcome counts.
	wait_until 60 one_running || fail "cut $i (at $at): running: $(running_versions | tr '\n' ' ')"
	cur=$(app_field version)
	[ "$(running_versions)" = "$cur" ] || fail "cut $i: runs $(running_versions), journal says $cur"
	[ "$cur" = "$old" ] || [ "$cur" = "$new" ] || fail "cut $i: runs $cur, neither $old nor $new"
	wait_until 30 serves "$cur" || fail "cut $i: $cur does not serve: '$(serving)'"
	[ "$(ls "$DEV/apps/web/versions" | wc -l)" -le 4 ] ||
		fail "cut $i: versions on disk: $(ls "$DEV/apps/web/versions" | tr '\n' ' ')"
	cuts+=("$at->$(app_field state):$cur")
	old=$cur
done
echo "cuts (found at restart: terminal, resumed, or the state rolled back from -> outcome:version): ${cuts[*]}"
ok "$N cuts: each time the store verified, the journal ended by itself, one version (old or new) ran and served"
