#!/usr/bin/env bash
# Configuration on the device (docs/fleet.md "Configuration"): a real
# agent runs a real container (apps_lib.sh's busybox image) deployed from
# a one-node loopback ring.  `carrier config set` reaches it through the
# ring: a good config is applied (its value in the app's environment, its
# file in /run/korhal/config) and reported; one that makes the app fail
# its health probe is reverted to the good one; one that cuts the device
# off the ring (the test-only KORHAL_TEST_CUT_RING_KEY) is reverted after
# the ring window and the device is back online; both reasons are in
# `carrier config get` and `history`.  Bad input handed to the agent (a
# config for another device, an older version, a tampered record) is
# refused with its reason and nothing changes; the CLI refuses a file over
# the limit.  An app's restarts reach the health record, which the node
# drops after --health-ttl.  Outcomes are awaited with generous deadlines,
# never timed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apps_lib.sh"

W=3    # the deployment's health window, seconds
RING=6 # the agent's --config-ring-window, seconds

make_versions 1
start_origin "$T/origin"
make_trust
export CARRIER_KEY=$T/root.key CARRIER_TRUST=$T/trust CARRIER_DEPLOYMENTS=$T/hist
make_ring 1
# Health records expire 5 s after they came (the agent sends one a second).
start_node 0 --health-ttl 5s
D=$(device dev)
OTHER=$(device other)
# The app writes what its config gives it where the test reads it (its
# /tmp, in the overlay's upper folder); the probe fails when MODE=broken.
"$CARRIER" release web:1 --image "$ORIGIN_URL" web:1 --counter 1 --arch "$ARCH" \
	--key "$T/rel1.key" -o "$T/r1" --health 'exec:test "$(cat /tmp/mode)" != broken' \
	-- sh -c 'echo "${MODE:-none}" >/tmp/mode
cat /run/korhal/config/GREETING >/tmp/greeting 2>/dev/null || echo none >/tmp/greeting
while :; do sleep 1; done' >/dev/null
"$CARRIER" release sign "$T/r1" --key "$T/rel2.key" >/dev/null
KORHAL_TEST_CUT_RING_KEY=CUT_RING start_apps_agent --health-interval 1s \
	--config-ring-window ${RING}s
wait_until 30 grep -q "attached to node" "$T/dev.log" || fail "the agent did not attach"
"$CARRIER" deploy "$T/r1" --to "$D" --waves 100 --health-window ${W}s --detach \
	>"$T/dep.out" 2>&1 || fail "deploy: $(cat "$T/dep.out")"

ROOT=$DEV/apps/web/versions/1/upper/tmp # what in_app reads
wait_until 90 app_field_is state committed || fail "web 1 did not commit: $(agent_ctl apps --json)"
# The vendor watches the fleet throughout: health-threshold events.  No
# device has 1 PiB of memory available: memory_low at once.
"$CARRIER" watch web --json --mem-below 1024T >"$T/watch.out" 2>"$T/watch.err" &
WATCH=$!
PIDS+=("$!")
wait_until 10 in_app mode none || fail "the app did not start: $(cat "$ROOT/mode")"

# ---- a good config is applied and reported ----------------------------------------
printf 'hello from the vendor\n' >"$T/greeting"
"$CARRIER" config set "$D" web MODE=good "GREETING=@$T/greeting" --version 10 \
	>"$T/set.out" 2>&1 || fail "config set: $(cat "$T/set.out")"
wait_until 60 app_field_is config_version 10 ||
	fail "config 10 was not applied: $(agent_ctl apps --json); $(grep config "$T/dev.log")"
in_app mode good || fail "MODE in the app: $(cat "$ROOT/mode")"
in_app greeting "hello from the vendor" || fail "the file in the app: $(cat "$ROOT/greeting")"
get_says() { "$CARRIER" config get "$D" web >"$T/get.out" 2>&1 && grep -qF "$1" "$T/get.out"; }
wait_until 30 get_says "config 10 running" || fail "config get: $(cat "$T/get.out")"
grep -q "^  MODE=good$" "$T/get.out" && grep -q "^  GREETING=@file (22 bytes" "$T/get.out" ||
	fail "config get entries: $(cat "$T/get.out")"
ok "a config reaches the device through the ring: its value in the app's environment, its file in /run/korhal/config, config get shows it running"

# ---- a config that breaks the app's health is reverted ------------------------------
"$CARRIER" config set "$D" web MODE=broken --version 20 >"$T/set.out" 2>&1 ||
	fail "config set 20: $(cat "$T/set.out")"
wait_until 30 app_field_is config_trying 20 || fail "config 20 was not tried: $(agent_ctl apps --json)"
wait_until 60 app_field_is config_trying 0 || fail "config 20 never ended: $(agent_ctl apps --json)"
app_field_is config_version 10 || fail "after config 20: $(agent_ctl apps --json)"
app_field config_error | grep -q "^config 20 reverted: health: " ||
	fail "the reason: $(app_field config_error)"
wait_until 20 in_app mode good || fail "the app after the revert: $(cat "$ROOT/mode")"
wait_until 30 get_says "last revert: config 20 reverted: health:" ||
	fail "config get: $(cat "$T/get.out")"
grep -q "config 10 running" "$T/get.out" || fail "config get: $(cat "$T/get.out")"
ok "a config that fails the health probe is reverted to the last good one, and config get says why"

# ---- a config that cuts the device off the ring is reverted -------------------------
"$CARRIER" config set "$D" web MODE=good2 CUT_RING=1 --version 30 >"$T/set.out" 2>&1 ||
	fail "config set 30: $(cat "$T/set.out")"
wait_until 30 app_field_is config_trying 30 || fail "config 30 was not tried: $(agent_ctl apps --json)"
n_attach=$(grep -c "attached to node" "$T/dev.log")
wait_until 60 app_field_is config_trying 0 || fail "config 30 never ended: $(agent_ctl apps --json)"
app_field_is config_version 10 || fail "after config 30: $(agent_ctl apps --json)"
app_field config_error | grep -q "^config 30 reverted: the ring was not reachable ${RING} s after applying it" ||
	fail "the reason: $(app_field config_error)"
grep -q "lost node .*; re-attaching" "$T/dev.log" ||
	fail "the agent never lost the ring: $(tail -5 "$T/dev.log")"
wait_until 20 in_app mode good || fail "the app after the revert: $(cat "$ROOT/mode")"
# Back on the ring: attached again, online, and its record says why.
attached_again() { [ "$(grep -c "attached to node" "$T/dev.log")" -gt "$n_attach" ]; }
wait_until 60 attached_again ||
	fail "the agent did not attach again: $(tail -5 "$T/dev.log")"
online() { "$CARRIER" status web --json 2>/dev/null | grep "\"device\":\"$D\"" | grep -q '"online":true'; }
wait_until 60 online || fail "the device is not online again: $("$CARRIER" status web --json)"
wait_until 30 get_says "last revert: config 30 reverted: the ring was not reachable" ||
	fail "config get: $(cat "$T/get.out")"
"$CARRIER" config history "$D" web >"$T/hist.out" 2>&1 || fail "config history: $(cat "$T/hist.out")"
grep -q "^30  .* reverted: the ring was not reachable" "$T/hist.out" &&
	grep -q "^20  .* reverted: health: " "$T/hist.out" &&
	grep -q "^10  .* running" "$T/hist.out" || fail "config history: $(cat "$T/hist.out")"
"$CARRIER" config history "$D" web --json | python3 -c 'import json,sys
h = json.load(sys.stdin)
assert [x["config_version"] for x in h] == [30, 20, 10], h
assert h[2]["outcome"] == "running" and h[0]["outcome"].startswith("reverted: the ring"), h
assert h[1]["outcome"].startswith("reverted: health: "), h' ||
	fail "config history --json"
ok "a config that cuts the device off the ring is reverted, the device is back online, and the reason is reported"

# ---- bad input: refused with the reason, nothing applied ---------------------------
refused() { # refused MESSAGE FILE: the agent refuses FILE with MESSAGE
	local rc=0
	agent_ctl config "$2" >"$T/bad.out" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] && grep -qF "$1" "$T/bad.out" ||
		fail "config $2: exit $rc: $(cat "$T/bad.out")"
}
"$CARRIER" config set "$OTHER" web MODE=other --version 40 --out "$T/other.cfg" >/dev/null ||
	fail "config set --out"
refused "config version 40 of web does not target this device" "$T/other.cfg"
"$CARRIER" config set "$D" web MODE=old --version 5 --out "$T/old.cfg" >/dev/null
refused "config version 5 is not above the running 30" "$T/old.cfg"
"$CARRIER" config set "$D" web MODE=tampered --version 50 --out "$T/t.cfg" >/dev/null
python3 - "$T/t.cfg" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.find(b"tampered")
b[i] = ord("T")
open(sys.argv[1], "wb").write(bytes(b))
PY
refused "config 50 of web: the signature of ven_" "$T/t.cfg"
grep -q "does not verify (the record was altered after it was signed" "$T/bad.out" || fail "tampered: $(cat "$T/bad.out")"
head -c 16385 /dev/zero >"$T/big"
rc=0
"$CARRIER" config set "$D" web "BIG=@$T/big" --version 60 >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -q "is 16385 bytes, more than the limit of 16384" "$T/bad.out" ||
	fail "a file over the limit: exit $rc: $(cat "$T/bad.out")"
sleep 1
app_field_is config_version 10 && app_field_is config_trying 0 && in_app mode good ||
	fail "something was applied: $(agent_ctl apps --json)"
# A good one by hand still goes: the refusals left nothing behind.
"$CARRIER" config set "$D" web MODE=byhand --version 70 --out "$T/ok.cfg" >/dev/null
agent_ctl config "$T/ok.cfg" >"$T/ok.out" 2>&1 || fail "config by hand: $(cat "$T/ok.out")"
grep -q "^web config 70$" "$T/ok.out" || fail "config by hand: $(cat "$T/ok.out")"
wait_until 60 app_field_is config_version 70 || fail "config 70: $(agent_ctl apps --json)"
in_app mode byhand || fail "MODE in the app: $(cat "$ROOT/mode")"
ok "a config for another device, an older version and a tampered record are refused by the agent, a file over the limit by the CLI, and nothing is applied"

# ---- restarts reach the health record; the record expires on the node --------------
pid=$("$BOLTER" --root "$DEV/bolter" state web+1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
kill -KILL "$pid"
wait_until 30 app_field_is restarts 1 || fail "restarts: $(agent_ctl apps --json)"
# web's figure of D in status --json (health null: "none").
ring_health() {
	"$CARRIER" status web --json 2>/dev/null | python3 -c 'import json,sys
for l in sys.stdin:
    o = json.loads(l)
    if o["device"] == sys.argv[1]:
        h = o["health"]
        print("none" if h is None else [a for a in h["apps"] if a["app"] == "web"][0][sys.argv[2]])' "$D" "$1"
}
ring_restarts_1() { [ "$(ring_health restarts)" = 1 ]; }
wait_until 30 ring_restarts_1 || fail "restarts on the ring: $(ring_health restarts)"
[ "$(ring_health config_version)" = 70 ] || fail "config_version on the ring: $(ring_health config_version)"
event() { grep "\"event\":\"$1\"" "$T/watch.out" | grep -F "$2"; }
event memory_low "\"device\":\"$D\"" >/dev/null || fail "watch: no memory_low: $(cat "$T/watch.out")"
event config_reverted "config 20 reverted: health:" >/dev/null &&
	event config_reverted "config 30 reverted: the ring was not reachable" >/dev/null ||
	fail "watch: config_reverted: $(cat "$T/watch.out")"
wait_until 20 event app_restarted '"app":"web"' >/dev/null || fail "watch: no app_restarted: $(cat "$T/watch.out")"
kill -TERM "$WATCH"
ok "watch streams memory_low, config_reverted and app_restarted from the health records"

# ---- status lists the inventory's names, and named devices no deployment targets ----
"$CARRIER" name "$D" lab-unit-1 >/dev/null || fail "carrier name"
"$CARRIER" name "$OTHER" spare-unit >/dev/null || fail "carrier name"
"$CARRIER" status >"$T/status.txt" 2>&1 || fail "status: $(cat "$T/status.txt")"
grep -q "^NAME  *DEVICE  *APP" "$T/status.txt" &&
	grep -q "^lab-unit-1  *$D  *web  *1  *succeeded  *yes " "$T/status.txt" &&
	grep -A1 "^not in any deployment:" "$T/status.txt" | grep -q "^spare-unit  *$OTHER  *-  *-  *untargeted  *no " ||
	fail "status: $(cat "$T/status.txt")"
"$CARRIER" status --json | python3 -c 'import json,sys
rows = {json.loads(l)["device"]: json.loads(l) for l in sys.stdin}
d, o = rows[sys.argv[1]], rows[sys.argv[2]]
assert d["name"] == "lab-unit-1" and d["app"] == "web" and d["online"], d
assert o["name"] == "spare-unit" and o["app"] is None and o["state"] == "untargeted" and not o["online"], o' \
	"$D" "$OTHER" || fail "status --json: names"
ok "status lists the inventory names, and a named device no deployment targets"
kill -KILL "$AGENT_PID"
health_gone() { [ "$(ring_health restarts)" = none ]; }
wait_until 60 health_gone || fail "the health record did not expire: $(ring_health restarts)"
ok "an app's restarts and config version reach the health record, and the node drops the record once it is older than --health-ttl"
