#!/usr/bin/env bash
# Real agents follow rollouts (docs/fleet.md "The device's side"): a
# loopback ring of 3 nodes, 3 carrier-agents with --trust and --tag
# site=lab running a busybox app (apps_lib.sh's images, served by nginx).
# `carrier deploy` of v1 to tag:site=lab in waves 34,100 reaches all three
# and they commit, and `carrier status --json` agrees with each agent's
# `carrier-agent apps --json`; a v2 whose probe fails on the devices makes
# them roll back and the deploy halts naming the failure; v3 commits
# (counter floor 3); `carrier rollback web --to 1` returns them to the
# retained v1, below the floor, downloading nothing (the origin's log); an
# ordinary deployment below the floor is refused; a deployment to another
# tag is not applied; one that expires before the wave opens is reported
# stale; the state survives an agent restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apps_lib.sh"

N=3
DEVS=()
AGENTS=()
rollout_agents_cleanup() {
	local rc=$? d id
	set +e
	for p in "${AGENTS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for d in "${DEVS[@]}"; do
		for id in $("$BOLTER" --root "$d/bolter" list -q 2>/dev/null); do
			"$BOLTER" --root "$d/bolter" delete --force "$id" >/dev/null 2>&1
		done
	done
	DEV=/nonexistent
	(exit "$rc")
	apps_cleanup
}
trap rollout_agents_cleanup EXIT

# rel V COUNTER OUT [PROBE_FILE]: web V running a busybox loop, probed by
# an exec probe (three devices on one host cannot share a port).
rel() {
	"$CARRIER" release "web:$1" --image "$ORIGIN_URL" "web:$1" --counter "$2" \
		--arch "$ARCH" --key "$T/rel1.key" -o "$3" \
		--health "exec:test -f /www/${4:-index.html}" \
		-- sh -c 'while :; do sleep 1; done' >/dev/null
	"$CARRIER" release sign "$3" --key "$T/rel2.key" >/dev/null
}

make_versions 3
start_origin "$T/origin"
make_trust
# The rollout key is root's (make_trust).
export CARRIER_KEY=$T/root.key CARRIER_TRUST=$T/trust CARRIER_DEPLOYMENTS=$T/deployments
make_ring 3
for i in 0 1 2; do start_node "$i"; done
for i in $(seq 0 $((N - 1))); do
	ID[$i]=$(device "d$i")
	DEVS+=("$T/d$i.d")
	"$CARRIER_AGENT" --key "$T/d$i.key" --ring "$T/ring" --data "$T/d$i.d" \
		--trust "$T/trust" --tag site=lab --tag unit="$i" \
		--apps-cgroup "$APPS_CG-$i" --keepalive 1s >>"$T/d$i.log" 2>&1 &
	AGENTS+=("$!")
	PIDS+=("$!")
done
for i in $(seq 0 $((N - 1))); do
	wait_until 30 grep -q "attached to node" "$T/d$i.log" || fail "agent $i did not attach"
done
sleep 1 # the home sets store the presence (and its tags)

ctl() { "$CARRIER_AGENT" --data "$T/d$1.d" apps --json; }
# field I FIELD: web's FIELD in agent I's apps --json.
field() {
	ctl "$1" | python3 -c 'import json,sys
for l in sys.stdin:
    o = json.loads(l)
    if o["app"] == "web":
        v = o[sys.argv[1]]
        print(",".join(v) if isinstance(v, list) else v)' "$2"
}
# agree: carrier status --json and every agent's apps --json tell the same.
agree() {
	"$CARRIER" status web --json >"$T/status.json" || fail "status --json"
	for i in $(seq 0 $((N - 1))); do
		ctl "$i" >"$T/apps$i.json"
		echo "${ID[$i]} $T/apps$i.json"
	done >"$T/map"
	python3 - "$T/status.json" "$T/map" <<'PY'
import json, sys
st = {}
for l in open(sys.argv[1]):
    o = json.loads(l)
    st[o["device"]] = o
for l in open(sys.argv[2]):
    dev, path = l.split()
    apps = {json.loads(x)["app"]: json.loads(x) for x in open(path)}
    a, s = apps["web"], st[dev]
    if s["state"] == "pending":
        # Not in a wave that opened: still on what it committed.
        assert a["state"] == "committed" and a["version"] == a["running"], (s, a)
        continue
    # The version the ring was told runs is the one the agent runs; a
    # succeeded report means the agent committed it, rolled_back that it
    # went back.
    assert s["version"] == a["version"] == a["running"], (s, a)
    # refused: the app manager kept what ran.
    want = {"succeeded": "committed", "rolled_back": "rolled_back",
            "refused": "committed"}[s["state"]]
    assert a["state"] == want, (s, a)
    assert s["online"] is True, s
print("agree")
PY
}
dseq() { ls "$T"/deployments/*/web/ 2>/dev/null | sed 's/\.deployment$//; s/^0*//' | sort -n | tail -1; }

# ---- v1 to tag:site=lab in waves 34,100: all three commit.
rel 1 1 "$T/r1"
"$CARRIER" deploy "$T/r1" --to tag:site=lab --waves 34,100 --max-failures 0 \
	--health-window 2s --timeout 60s >"$T/deploy1.out" 2>&1 ||
	fail "deploy v1: $(cat "$T/deploy1.out")"
grep -q "rollout of web 1 complete: $N of $N devices succeeded" "$T/deploy1.out" ||
	fail "deploy v1: $(cat "$T/deploy1.out")"
seq1=$(dseq)
for i in $(seq 0 $((N - 1))); do
	[ "$(field "$i" version)" = 1 ] && [ "$(field "$i" state)" = committed ] ||
		fail "agent $i after v1: $(ctl "$i")"
	[ "$(field "$i" deployment_seq)" = "$seq1" ] ||
		fail "agent $i follows deployment $(field "$i" deployment_seq), not $seq1"
done
agree >/dev/null || fail "status disagrees with the agents after v1"
# health_agree: each device's health record (sent at once when an app's
# state changes) carries web as the agent's apps --json says.
health_agree() {
	"$CARRIER" status web --json >"$T/status.json" || return 1
	for i in $(seq 0 $((N - 1))); do
		ctl "$i" >"$T/apps$i.json"
		echo "${ID[$i]} $T/apps$i.json"
	done >"$T/map"
	python3 - "$T/status.json" "$T/map" >"$T/health_agree.out" 2>&1 <<'PY'
import json, sys
st = {json.loads(l)["device"]: json.loads(l) for l in open(sys.argv[1])}
for l in open(sys.argv[2]):
    dev, path = l.split()
    a = {json.loads(x)["app"]: json.loads(x) for x in open(path)}["web"]
    h = st[dev]["health"]
    assert h is not None, (dev, "no health")
    w = [x for x in h["apps"] if x["app"] == "web"]
    assert w and (w[0]["version"], w[0]["state"], w[0]["last_error"]) == \
        (a["version"], a["state"], a["last_error"]), (w, a)
PY
}
wait_until 20 health_agree || fail "health records disagree with the agents: $(cat "$T/health_agree.out")"
ok "each agent's health record carries web as its apps --json says"
ok "v1 reached the $N agents in waves 34,100; they committed; status agrees"

# ---- v2 fails its probe on the devices: they roll back, the deploy halts.
rel 2 2 "$T/r2" nope.html
rc=0
"$CARRIER" deploy "$T/r2" --to tag:site=lab --waves 34,100 --max-failures 0 \
	--health-window 2s --timeout 60s >"$T/deploy2.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "deploy v2: exit $rc: $(cat "$T/deploy2.out")"
grep -q "halted in wave" "$T/deploy2.out" || fail "deploy v2 did not halt: $(cat "$T/deploy2.out")"
grep -q "rolled_back: health: exec:test -f /www/nope.html" "$T/deploy2.out" ||
	fail "the halt does not name the failure: $(cat "$T/deploy2.out")"
tried=0
for i in $(seq 0 $((N - 1))); do
	[ "$(field "$i" version)" = 1 ] && [ "$(field "$i" running)" = 1 ] ||
		fail "agent $i after v2: $(ctl "$i")"
	if [ "$(field "$i" target)" = 2 ]; then
		tried=$((tried + 1))
		[ "$(field "$i" state)" = rolled_back ] || fail "agent $i after v2: $(ctl "$i")"
		grep -q "rolled_back 1: health: exec:test -f /www/nope.html" "$T/d$i.log" ||
			fail "agent $i did not report its rollback"
	fi
done
[ "$tried" -ge 1 ] || fail "no agent tried v2"
agree >/dev/null || fail "status disagrees with the agents after v2"
ok "v2 failed its probe on $tried agent(s), which rolled back to v1; the deploy halted naming it"

# ---- v3 commits everywhere (counter floor 3).
rel 3 3 "$T/r3"
"$CARRIER" deploy "$T/r3" --to tag:site=lab --waves 100 --max-failures 0 \
	--health-window 2s --timeout 60s >"$T/deploy3.out" 2>&1 ||
	fail "deploy v3: $(cat "$T/deploy3.out")"
for i in $(seq 0 $((N - 1))); do
	[ "$(field "$i" version)" = 3 ] && [ "$(field "$i" counter_floor)" = 3 ] ||
		fail "agent $i after v3: $(ctl "$i")"
done
ok "v3 committed on the $N agents"

# ---- carrier rollback web --to 1: the retained v1, nothing downloaded.
pulled=$(wc -l <"$ORIGIN_LOG")
"$CARRIER" rollback web --to 1 --timeout 60s >"$T/rollback.out" 2>&1 ||
	fail "rollback: $(cat "$T/rollback.out")"
grep -q "rollback of web from 3 to 1" "$T/rollback.out" || fail "rollback said: $(cat "$T/rollback.out")"
for i in $(seq 0 $((N - 1))); do
	[ "$(field "$i" version)" = 1 ] && [ "$(field "$i" state)" = committed ] &&
		[ "$(field "$i" running)" = 1 ] || fail "agent $i after the rollback: $(ctl "$i")"
	[ "$(field "$i" counter_floor)" = 3 ] || fail "agent $i: the floor went down: $(ctl "$i")"
done
[ "$(wc -l <"$ORIGIN_LOG")" = "$pulled" ] ||
	fail "the rollback downloaded: $(tail -n +$((pulled + 1)) "$ORIGIN_LOG")"
agree >/dev/null || fail "status disagrees with the agents after the rollback"
ok "carrier rollback returned the $N agents to the retained v1 (below the floor), downloading nothing"

# ---- an ordinary deployment below the floor (a stolen rollout key without
# the rollback path) is refused by every device, and the deploy halts.
rc=0
"$CARRIER" deploy "$T/r2" --to tag:site=lab --waves 100 --max-failures 0 \
	--health-window 2s --timeout 60s >"$T/deploy2b.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "deploy of v2 below the floor: exit $rc: $(cat "$T/deploy2b.out")"
grep -q "refused: rollback: release counter 2 is below the committed 3" "$T/deploy2b.out" ||
	fail "the refusal is not named: $(cat "$T/deploy2b.out")"
for i in $(seq 0 $((N - 1))); do
	[ "$(field "$i" running)" = 1 ] && [ "$(field "$i" state)" = committed ] ||
		fail "agent $i after a refused deployment: $(ctl "$i")"
done
agree >/dev/null || fail "status disagrees with the agents after the refusal"
ok "a deployment below the counter floor is refused by every agent, named in the halt"

# ---- a deployment to another tag is not applied.
"$CARRIER" release "other:1" --image "$ORIGIN_URL" "web:1" --counter 1 --arch "$ARCH" \
	--key "$T/rel1.key" -o "$T/other" -- sh -c 'while :; do sleep 1; done' >/dev/null
"$CARRIER" release sign "$T/other" --key "$T/rel2.key" >/dev/null
"$CARRIER" deploy "$T/other" --to tag:site=elsewhere --waves 100 --detach \
	>"$T/deploy-other.out" 2>&1 || fail "deploy other: $(cat "$T/deploy-other.out")"
sleep 4
for i in $(seq 0 $((N - 1))); do
	ctl "$i" | grep -q '"app":"other"' && fail "agent $i applied a deployment to another tag"
	grep -q "app other" "$T/d$i.log" && fail "agent $i took the deployment to another tag"
done
ok "a deployment to tag:site=elsewhere reached none of the agents"

# ---- a deployment that expires before the device's wave opens (nobody
# follows it: no advance comes): the agents report stale, run nothing.
"$CARRIER" deploy "$T/r1" --to tag:site=lab --waves 1,100 --expires 3s --detach \
	>"$T/deploy-exp.out" 2>&1 || fail "deploy --expires: $(cat "$T/deploy-exp.out")"
seqx=$(dseq)
stale() { grep -q "deployment seq $seqx: \(stale 1: freeze: the deployment expired\|succeeded 1\)" "$T/d$1.log"; }
for i in $(seq 0 $((N - 1))); do
	wait_until 20 stale "$i" || fail "agent $i did not report the expired deployment stale"
	[ "$(field "$i" running)" = 1 ] || fail "agent $i after the expired deployment: $(ctl "$i")"
done
grep -l "deployment seq $seqx: stale" "$T"/d?.log | grep -q . ||
	fail "no agent (all in the 1 % wave?) reported stale"
ok "a deployment expiring before the wave opened was reported stale, nothing ran"

# ---- the state survives an agent restart.
kill -TERM "${AGENTS[0]}"
wait "${AGENTS[0]}" 2>/dev/null || true
"$CARRIER_AGENT" --key "$T/d0.key" --ring "$T/ring" --data "$T/d0.d" \
	--trust "$T/trust" --tag site=lab --tag unit=0 \
	--apps-cgroup "$APPS_CG-0" --keepalive 1s >>"$T/d0.log" 2>&1 &
AGENTS[0]=$!
PIDS+=("$!")
wait_until 20 test -S "$T/d0.d/control.sock" || fail "agent 0 did not restart"
wait_until 20 sh -c "grep -c 'attached to node' '$T/d0.log' | grep -qv '^1$'" || fail "agent 0 did not attach again"
seqr=$(dseq)
[ "$(field 0 deployment_seq)" = "$seqr" ] && [ "$(field 0 version)" = 1 ] ||
	fail "agent 0 after a restart: $(ctl 0)"
grep -q "following deployment seq $seqr" "$T/d0.log" || fail "agent 0 did not load its deployment"
ok "an agent restart keeps the deployment it follows"
