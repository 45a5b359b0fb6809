#!/usr/bin/env bash
# An idle agent with --trust and one app running wakes only when
# something is due (issue 16): its keepalives, not the app manager's or
# the rollouts' timers.  Counted as events, not as a rate: the agent's
# voluntary context switches (each is a sleep in epoll_wait that a timer
# or a packet ended; a loaded machine adds involuntary ones, not these)
# over a 20 s idle window must stay under what its pings need: at most
# 4 a keepalive period (the ping's timer, the pong, the sessions' pass,
# one spare) plus 20 for the odd disk wait.  Before, the apps' 200 ms and
# the rollouts' 250 ms ticks made about 215 in 20 s (644 a minute,
# bench/results/device-idle.txt).  Then the app is killed: its end wakes
# the agent (a pidfd, no polling) and it restarts it.  Also prints the
# agent's memory and checks its own part (RssAnon: heap, stacks; not the
# pages of its program and libraries, which depend on how it is linked)
# against a generous ceiling: the 2 MiB target plus 50 %.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apps_lib.sh"

KA=5 # --keepalive, seconds
WIN=20
make_versions 1
start_origin "$T/origin"
make_trust
make_ring 1
start_node 0
device dev >/dev/null
start_apps_agent --keepalive ${KA}s
wait_until 20 grep -q "attached to node" "$T/dev.log" || fail "the agent did not attach"
release 1 1 "$T/r1"
agent_ctl install "$T/r1" --health-window 2s >"$T/out" 2>"$T/err" ||
	fail "install v1: $(cat "$T/err")"
grep -q "^web 1 committed$" "$T/out" || fail "install v1 said: $(cat "$T/out")"
[ "$(serving)" = "web v1" ] || fail "v1 does not serve: '$(serving)'"

# voluntary PID: the voluntary context switches of all its threads.
voluntary() {
	local v=0 f a
	for f in /proc/"$1"/task/*/status; do
		a=$(sed -n 's/^voluntary_ctxt_switches:\s*//p' "$f")
		v=$((v + a))
	done
	echo "$v"
}
# Settle: the install's last steps, the health record they cause.
sleep 3
v0=$(voluntary "$AGENT_PID")
sleep "$WIN"
v1=$(voluntary "$AGENT_PID")
max=$((4 * WIN / KA + 20))
wakes=$((v1 - v0))
echo "wake-ups in ${WIN} s idle with one app (--keepalive ${KA}s): $wakes (at most $max)"
[ "$wakes" -le "$max" ] ||
	fail "the idle agent woke $wakes times in $WIN s with one app running (at most $max: $((WIN / KA)) keepalives)"
[ "$(app_field state)" = committed ] && [ "$(serving)" = "web v1" ] ||
	fail "the app is not running after the idle window: $(agent_ctl apps --json)"
ok "idle with one app: $wakes wake-ups in $WIN s (at most $max)"

rss=$(sed -n 's/^VmRSS:\s*//p' /proc/"$AGENT_PID"/status)
anon=$(sed -n 's/^RssAnon:\s*\([0-9]*\).*/\1/p' /proc/"$AGENT_PID"/status)
ceiling=$((2048 * 3 / 2))
echo "agent memory idle with one app: VmRSS $rss, RssAnon $anon kB (ceiling $ceiling kB)"
if [ "${KORHAL_ASAN:-0}" = 1 ]; then
	echo "ASan build: its shadow memory is the agent's; the ceiling is not checked"
else
	[ "$anon" -le "$ceiling" ] ||
		fail "the idle agent's own memory (RssAnon) is $anon kB, over $ceiling kB"
	ok "the agent's own memory idle: RssAnon $anon kB (at most $ceiling kB)"
fi

# The app's end wakes the agent, which restarts it.
pid=$("$BOLTER" --root "$DEV/bolter" state web+1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
[ -n "$pid" ] || fail "no pid for web+1"
kill -KILL "$pid"
wait_until 20 grep -q "app web: 1 exited; restarting in" "$T/dev.log" ||
	fail "the agent did not see the app die"
wait_until 20 sh -c "curl -sf http://127.0.0.1:$APP_PORT/index.html | grep -q 'web v1'" ||
	fail "the app was not restarted"
ok "a killed app wakes the idle agent and is restarted"
