#!/usr/bin/env bash
# A root rotation recovers devices without a reflash (research/fleet.md
# 3(b) "Key compromise", docs/fleet.md "Attacks"): three root keys, 2 of
# them needed; rollout key A is lost or stolen.  Devices (simulated ones
# and a real agent, provisioned with trust root v1) never get a new file:
#  - a v2 naming rollout key B signed by 1 root key only is refused: no
#    device runs what it carries;
#  - the v2 signed by 2 of the 3 root keys (the third one offline) reaches
#    every device inside a deployment signed by B; they run it, and take v2
#    as their root (the agent keeps it across a restart);
#  - after it, key A with root v1 deploys nothing: the nodes hold v2.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"

make_ring 3
for i in 0 1 2; do start_node "$i"; done
for k in r1 r2 r3 rel rollA rollB; do vendor "$k" >/dev/null; done
# v1: roots r1, r2, r3 (2 of 3; r1 and r2 sign), rollout key A.
"$CARRIER" trust init --root "$T/r1.key" --root "$T/r2.key" --root "$T/r3.key.pub" \
	--root-threshold 2 --release "$T/rel.key.pub" --rollout "$T/rollA.key.pub" \
	-o "$T/trust" >/dev/null || fail "trust init v1"
mkdir -p "$T/img/bin" "$T/www"
printf '#!/bin/sh\necho v1\n' >"$T/img/bin/app"
"$ARCHON" --store "$T/store" import "$T/img" acme/web:1 >/dev/null
"$ARCHON" --store "$T/store" publish acme/web:1 --to "$T/www" >/dev/null
for v in 2.0:2 3.0:3 4.0:4; do
	"$CARRIER" release "web:${v%:*}" --image "$T/www" acme/web:1 \
		--counter "${v#*:}" --arch amd64,arm64,armel,armhf,mipsel \
		--key "$T/rel.key" --trust "$T/trust" -o "$T/web-${v%:*}.release" >/dev/null
done
export CARRIER_DEPLOYMENTS=$T/deployments
start_sim sim
SIM=$SIM_PID
# A real agent provisioned with v1 (it cannot run the release: no
# containers here; its trust root is what is checked).
device rdev >/dev/null
start_agent rdev --trust "$T/trust" --tag site=lab --keepalive 1s
AGENT=$AGENT_PID
wait_until 60 all_attached $((SIM_N + 1)) || fail "the devices did not attach"
sleep 1

ran() { awk -v v="$1" '$2 == v' "$T/sim/ran.txt" 2>/dev/null | wc -l; }

# ---- v2 signed by 1 of 3 root keys: refused.
"$CARRIER" trust init --previous "$T/trust" --root "$T/r1.key" --root "$T/r2.key.pub" \
	--root "$T/r3.key.pub" --root-threshold 2 --release "$T/rel.key.pub" \
	--rollout "$T/rollB.key.pub" -o "$T/trust-1of3" >/dev/null 2>&1 || true
rc=0
"$CARRIER" deploy "$T/web-2.0.release" --trust "$T/trust-1of3" --key "$T/rollB.key" \
	--to tag:site=lab --waves 100 --max-failures 1 --health-window 200ms \
	--timeout 10s >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a root signed by 1 of 3 deployed: $(cat "$T/bad.out")"
grep -q "1 of 2 root signatures\|signatures of the previous root" "$T/bad.out" ||
	fail "the refusal does not say why: $(cat "$T/bad.out")"
sleep 2
[ "$(ran 2.0)" = 0 ] || fail "devices ran a deployment under a root signed by 1 of 3"
ok "a rotation signed by 1 of 3 root keys is refused; nothing ran"

# ---- v2 signed by 2 of 3 (r3 offline), rollout key B: every device.
"$CARRIER" trust init --previous "$T/trust" --root "$T/r1.key" --root "$T/r2.key" \
	--root "$T/r3.key.pub" --root-threshold 2 --release "$T/rel.key.pub" \
	--rollout "$T/rollB.key.pub" -o "$T/trust2" >/dev/null || fail "trust init v2"
"$CARRIER" trust show "$T/trust2" --previous "$T/trust" >"$T/show.out" 2>&1 ||
	fail "v2 is not a valid rotation: $(cat "$T/show.out")"
"$CARRIER" deploy "$T/web-3.0.release" --trust "$T/trust2" --key "$T/rollB.key" \
	--to tag:site=lab --waves 100 --max-failures 1 --health-window 200ms \
	--timeout 30s >"$T/good.out" 2>&1 || true
all3() { [ "$(sim_count sim succeeded 3.0)" -eq "$SIM_N" ]; }
wait_until 30 all3 || fail "not every device runs 3.0: $(sim_count sim succeeded 3.0) of $SIM_N: $(cat "$T/good.out")"
grep -q "trust root v2 adopted" "$T/sim.log" || fail "the simulated devices did not take v2"
wait_until 10 grep -q "trust root v2 adopted (a rotation from v1" "$T/rdev.log" ||
	fail "the agent did not take v2: $(grep -i "trust\|deployment" "$T/rdev.log")"
ok "v2 signed by 2 of 3 root keys reached all $SIM_N simulated devices and the agent through a deployment by key B"

# ---- key A, root v1, after the rotation: nothing.
rc=0
"$CARRIER" deploy "$T/web-4.0.release" --trust "$T/trust" --key "$T/rollA.key" \
	--to tag:site=lab --waves 100 --max-failures 1 --health-window 200ms \
	--timeout 10s >"$T/old.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "the old rollout key deployed: $(cat "$T/old.out")"
grep -q "older than" "$T/old.out" "$T"/node*.log || fail "no node named the older root: $(cat "$T/old.out")"
sleep 2
[ "$(ran 4.0)" = 0 ] || fail "devices ran a deployment by the dropped key"
grep -q "of 4.0" "$T/rdev.log" && fail "the agent took a deployment by the dropped key"
ok "the dropped rollout key A deploys nothing after the rotation"

# ---- the agent keeps v2 across a restart.
kill -TERM "$AGENT"; wait "$AGENT" 2>/dev/null || true
start_agent rdev --trust "$T/trust" --tag site=lab --keepalive 1s
wait_until 20 grep -q "trust root v2 (adopted from a rotation) instead of the provisioned v1" "$T/rdev.log" ||
	fail "the restarted agent went back to v1"
ok "the agent keeps the rotated root across a restart (still started with the v1 file)"
kill "$SIM"; wait "$SIM" 2>/dev/null || true
