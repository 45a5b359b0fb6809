#!/usr/bin/env bash
# The agent runs apps (docs/agent-apps.md): a busybox web app in versions
# published to nginx on loopback, signed releases handed to a device agent
# on a loopback ring through its control socket.  v1 installs and serves;
# v2, whose probe fails, rolls back to v1 by itself, downloading nothing
# for the rollback; v3 commits; the three versions share their files on
# disk; and each refusal names its reason: unsigned, 1 of 2 signatures,
# another architecture, a counter below the committed one, a file object
# tampered with before the start, a pull that would eat the reserve.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apps_lib.sh"

W=3 # the health window of these installs, seconds
apps_setup 5

# ---- v1 installs and serves.
release 1 1 "$T/r1"
agent_ctl install "$T/r1" --health-window ${W}s >"$T/out" 2>"$T/err" ||
	fail "install v1: $(cat "$T/err")"
grep -q "^web 1 committed$" "$T/out" || fail "install v1 said: $(cat "$T/out")"
[ "$(serving)" = "web v1" ] || fail "v1 does not serve: '$(serving)'"
[ "$(app_field state)" = committed ] && [ "$(app_field version)" = 1 ] ||
	fail "apps after v1: $(agent_ctl apps --json)"
ok "v1 installs, passes its health window and serves"

# ---- v2 fails its probe: back to v1 by itself, nothing downloaded for it.
release 2 2 "$T/r2" "http:$APP_PORT/no-such-page.html"
: >"$ORIGIN_LOG"
t0=$(date +%s%N)
timeout $((W + 60)) "$CARRIER_AGENT" --data "$DEV" install "$T/r2" --health-window ${W}s \
	>"$T/out" 2>"$T/err" &
inst=$!
wait_until 60 state_is health ||
	fail "v2 never reached its health window: $(agent_ctl apps --json)"
t_health=$(date +%s%N)
pulled=$(wc -l <"$ORIGIN_LOG")
rc=0
wait "$inst" || rc=$?
t1=$(date +%s%N)
[ "$rc" = 1 ] || fail "install v2: exit $rc, want 1 (rolled back): $(cat "$T/err")"
grep -q "rolled back: web 2: health: http:$APP_PORT/no-such-page.html answered 404" "$T/err" ||
	fail "install v2 said: $(cat "$T/err")"
[ "$(serving)" = "web v1" ] || fail "v1 does not serve after the rollback: '$(serving)'"
[ "$(running_versions)" = 1 ] || fail "running after the rollback: $(running_versions)"
[ "$(wc -l <"$ORIGIN_LOG")" = "$pulled" ] ||
	fail "the rollback downloaded: $(tail -n +$((pulled + 1)) "$ORIGIN_LOG")"
[ "$pulled" -gt 0 ] || fail "v2's pull fetched nothing from the origin"
[ "$(app_field state)" = rolled_back ] && [ "$(app_field version)" = 1 ] ||
	fail "apps after v2: $(agent_ctl apps --json)"
app_field last_error | grep -q "404" || fail "last_error: $(app_field last_error)"
echo "v2: health window ${W}s; install to rolled back $(( (t1 - t0) / 1000000 )) ms," \
	"health start to v1 serving $(( (t1 - t_health) / 1000000 )) ms"
ok "v2 fails its probe and rolls back to v1 by itself, downloading nothing for the rollback"

# ---- v3 commits; three versions on disk share their files.
release 3 3 "$T/r3"
agent_ctl install "$T/r3" --health-window ${W}s >"$T/out" 2>"$T/err" ||
	fail "install v3: $(cat "$T/err")"
[ "$(serving)" = "web v3" ] || fail "v3 does not serve: '$(serving)'"
[ "$(running_versions)" = 3 ] || fail "running after v3: $(running_versions)"
[ "$(app_field previous)" = "1,2" ] || fail "previous after v3: $(app_field previous)"
inodes=$(for v in 1 2 3; do stat -c %i "$DEV/apps/web/versions/$v/lower/bin/busybox"; done | sort -u | wc -l)
[ "$inodes" = 1 ] || fail "busybox is stored $inodes times for three versions"
[ "$(stat -c %i "$DEV/apps/web/versions/1/lower/www/index.html")" != \
	"$(stat -c %i "$DEV/apps/web/versions/3/lower/www/index.html")" ] ||
	fail "a changed file shares its object"
ok "v3 commits; v1, v2, v3 are kept as hard links into one store (busybox once)"
# Supervision: the app's process dies, the agent starts it again.
pid=$("$BOLTER" --root "$DEV/bolter" state web+3 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
[ -n "$pid" ] || fail "no pid for web+3"
kill -KILL "$pid"
wait_until 20 grep -q "app web: 3 exited; restarting in" "$T/dev.log" || fail "the agent did not see v3 die"
wait_until 20 sh -c "curl -sf http://127.0.0.1:$APP_PORT/index.html | grep -q 'web v3'" ||
	fail "v3 was not restarted"
[ -f "$DEV/apps/web/log" ] || fail "no log for the app"
ok "a dead app process is restarted (backoff from 1 s)"
# A chatty app (another app, no probe): its log is rotated at 256 KiB.
"$CARRIER" release chatty:1 --image "$ORIGIN_URL" web:1 --counter 1 --arch "$ARCH" \
	--key "$T/rel1.key" -o "$T/chatty" -- sh -c \
	'while :; do head -c 8000 /dev/zero | tr "\0" x; echo; sleep 0.02; done' >/dev/null
"$CARRIER" release sign "$T/chatty" --key "$T/rel2.key" >/dev/null
agent_ctl install "$T/chatty" --health-window 1s >"$T/out" 2>"$T/err" ||
	fail "install chatty: $(cat "$T/err")"
wait_until 30 test -s "$DEV/apps/chatty/log.1" || fail "the chatty app's log was not rotated"
sleep 2
for f in log log.1; do
	size=$(stat -c %s "$DEV/apps/chatty/$f")
	[ "$size" -le $((1024 * 1024)) ] || fail "chatty's $f has $size bytes"
done
[ "$(stat -c %s "$DEV/apps/chatty/log.1")" -le $((256 * 1024)) ] || fail "log.1 is over 256 KiB"
ok "an app's output is kept bounded: log rotated to log.1 at 256 KiB"
agent_ctl apps >"$T/table"
grep -Eq "^web +3 +committed +1,2 " "$T/table" && grep -Eq "^chatty +1 +committed " "$T/table" ||
	fail "apps table: $(cat "$T/table")"
ok "carrier-agent apps shows the table"

# ---- Refusals, each named; v3 keeps serving.
refused() { # refused WHAT PATTERN RELEASE
	if agent_ctl install "$3" --health-window ${W}s >"$T/out" 2>"$T/err"; then
		fail "$1 was installed"
	fi
	grep -q "$2" "$T/err" || fail "$1: $(cat "$T/err")"
	[ "$(serving)" = "web v3" ] || fail "$1: v3 no longer serves"
	ok "refused: $1 ($(tail -n 1 "$T/err"))"
}
# No vendor tool makes an unsigned release: the test tool strips one.
"$MKRELEASE" release -o "$T/unsigned" --app web --version 4 --counter 4 --arch "$ARCH" \
	--image web:4 --origin "$ORIGIN_URL" --store "$T/pub" --key "$T/rel1.key" \
	--unsigned -- httpd -f -p "127.0.0.1:$APP_PORT" -h /www
refused "an unsigned release" "release: unsigned" "$T/unsigned"
"$CARRIER" release web:4 --image "$ORIGIN_URL" web:4 --counter 4 --arch "$ARCH" \
	--key "$T/rel1.key" -o "$T/one" -- httpd -f -p "127.0.0.1:$APP_PORT" -h /www >/dev/null
refused "1 of 2 signatures" "1 of 2 release signatures" "$T/one"
release 4 4 "$T/arch" "" mipsel
refused "another architecture" "is for mipsel, this device is $ARCH" "$T/arch"
release 1 1 "$T/old"
refused "a lower counter" "release counter 1 is below the committed 3" "$T/old"

# A file object of v4 changed in the device's store after its pull: the
# check right before the start finds it (CVE-2020-25860's class), v3 comes
# back.
"$ARCHON" --store "$DEV/archon" pull --insecure "$ORIGIN_URL" web:4 >/dev/null 2>&1 ||
	fail "pre-pulling web:4"
"$ARCHON" --store "$DEV/archon" checkout web:4 "$T/co4" >/dev/null
echo "tampered" >"$T/co4/www/v4.html" # a hard link: the store's object
release 4 4 "$T/r4"
refused "a tampered file object" "web 4 does not verify.*v4.html" "$T/r4"
[ "$(running_versions)" = 3 ] || fail "running after the tampered v4: $(running_versions)"

# A pull that would leave less than the reserve free touches nothing.
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
start_apps_agent --apps-reserve 1000000G
[ "$(serving)" = "web v3" ] || fail "v3 does not serve after an agent restart"
release 5 5 "$T/r5"
refused "a pull that does not fit the reserve" "not enough space.*must stay free" "$T/r5"
! ARCHON_STORE=$DEV/archon "$ARCHON" ls | grep -q "^web:5 " || fail "the refused pull left web:5"
[ ! -d "$DEV/apps/web/versions/5" ] || fail "the refused pull left a version folder"

# The ring must still be reachable at the end of the window: a version
# after which the device lost its home node rolls back.
# A window long enough that the agent notices the dead node (a few missed
# keepalives) before it ends, however late a loaded machine sees the state.
release 1 6 "$T/r1b"
agent_ctl install "$T/r1b" --health-window 15s >"$T/out" 2>"$T/err" &
inst=$!
wait_until 20 state_is health || fail "the switch to v1 again did not reach its window"
kill -KILL "${NODE_PID[0]}"
rc=0
wait "$inst" || rc=$?
[ "$rc" = 1 ] || fail "install with the ring gone: exit $rc: $(cat "$T/err")"
grep -q "the ring was not reachable at the end of the health window" "$T/err" ||
	fail "install with the ring gone: $(cat "$T/err")"
[ "$(serving)" = "web v3" ] || fail "v3 does not serve after the ring check"
ok "a version after which the ring is unreachable rolls back"

# Retention: three versions at most, never the running or the previous;
# the store verifies.
ls "$DEV/apps/web/versions" | sort | tr '\n' ' ' >"$T/kept"
[ "$(cat "$T/kept")" = "1 2 3 " ] || fail "versions kept: $(cat "$T/kept")"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
"$ARCHON" --store "$DEV/archon" verify >"$T/verify" 2>&1 || fail "archon verify: $(cat "$T/verify")"
[ "$(serving)" = "web v3" ] || fail "the app stopped with the agent"
ok "three versions kept, the store verifies, the app outlives the agent"
