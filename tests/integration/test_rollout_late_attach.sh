#!/usr/bin/env bash
# A device whose pushes were all lost still reaches the newest deployment
# (docs/fleet.md "The device's side"): at each attach the agent asks its
# node for the newest deployment and advance of its vendor's apps
# (FleetApps, FleetGet) and takes them as pushed ones.  The agent runs
# with KORHAL_TEST_DROP_PUSHES=all, so nothing pushed reaches it: web 1.0
# deployed before the agent started arrives at its first attach; web 2.0
# deployed while it is attached does not arrive until it attaches again (a
# restart), then it does; a third attach brings 2.0 again, already applied:
# it changes nothing.  Last, with its pushes lost for 20 s only, web 3.0
# arrives by the nodes' later tries, without a new attach.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"

rollout_setup
"$CARRIER" deploy "$T/web-1.0.release" --to tag:site=lab --detach \
	>"$T/deploy1.out" 2>&1 || fail "deploy 1.0: $(cat "$T/deploy1.out")"
sleep 1 # replicated to the three nodes
device d >/dev/null
run_agent() {
	KORHAL_TEST_DROP_PUSHES=all start_agent d --trust "$T/trust" \
		--tag site=lab --keepalive 1s
}
run_agent
wait_until 20 grep -q "app web: deployment seq .* of 1.0" "$T/d.log" ||
	fail "the deployment stored before the agent attached never reached it: $(cat "$T/d.log")"
ok "a deployment stored before the device attached reached it though every push was lost"

"$CARRIER" deploy "$T/web-2.0.release" --to tag:site=lab --detach \
	>"$T/deploy2.out" 2>&1 || fail "deploy 2.0: $(cat "$T/deploy2.out")"
sleep 3
! grep -q "deployment seq .* of 2.0" "$T/d.log" ||
	fail "a push reached the agent (KORHAL_TEST_DROP_PUSHES is not in effect)"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
run_agent
wait_until 20 grep -q "app web: deployment seq .* of 2.0" "$T/d.log" ||
	fail "the newer deployment did not reach the agent at its re-attach: $(cat "$T/d.log")"
ok "at its re-attach the device took the newer deployment"
n=$(grep -c "attached to node" "$T/d.log")
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
run_agent
attached_more() { [ "$(grep -c "attached to node" "$T/d.log")" -gt "$n" ]; }
wait_until 20 attached_more ||
	fail "the agent did not attach a third time: $(cat "$T/d.log")"
sleep 2 # its pulls answered
[ "$(grep -c "deployment seq .* of 2.0" "$T/d.log")" = 1 ] &&
	[ "$(grep -c "deployment seq .* of 1.0" "$T/d.log")" = 1 ] ||
	fail "a deployment was applied twice: $(cat "$T/d.log")"
ok "the deployment already applied, pulled again, changed nothing"

# ---- a push lost for 20 s still arrives -------------------------------------
# The agent stays attached and throws away what is pushed to it for 20 s
# from the first push.  A node used to give a push up after 5 tries, 15 s
# after its last push (of the store or of a peer's copy), so 3.0 waited
# for the device's next attach; now it sends it again until the device
# acknowledges it or leaves.
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
KORHAL_TEST_DROP_PUSHES=20 start_agent d --trust "$T/trust" \
	--tag site=lab --keepalive 1s --attach 2
n=$(grep -c "attached to node" "$T/d.log")
attached_now() { [ "$(grep -c "attached to node" "$T/d.log")" -ge $((n + 2)) ]; }
wait_until 20 attached_now || fail "the agent did not attach: $(cat "$T/d.log")"
sleep 2 # its pulls answered
n=$(grep -c "attached to node" "$T/d.log")
"$CARRIER" deploy "$T/web-3.0.release" --to tag:site=lab --detach \
	>"$T/deploy3.out" 2>&1 || fail "deploy 3.0: $(cat "$T/deploy3.out")"
sleep 15
! grep -q "deployment seq .* of 3.0" "$T/d.log" ||
	fail "a push reached the agent within 15 s (KORHAL_TEST_DROP_PUSHES=20 is not in effect)"
wait_until 60 grep -q "app web: deployment seq .* of 3.0" "$T/d.log" ||
	fail "a deployment whose pushes were lost for 20 s never arrived: $(cat "$T/d.log")"
[ "$(grep -c "attached to node" "$T/d.log")" = "$n" ] ||
	fail "the agent attached again meanwhile (the test needs it to stay): $(cat "$T/d.log")"
ok "a deployment whose pushes were lost for 20 s arrived by the nodes' later tries, with no new attach"
