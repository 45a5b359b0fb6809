#!/usr/bin/env bash
# A device whose agent stops is offline: an agent stopped by SIGTERM or
# SIGINT says goodbye to its home nodes, which mark it offline at once (the
# agent runs the default 15 s keepalive here, so waiting out its keepalives
# would take 46 s: only the goodbye meets the deadline); an agent that
# vanishes (SIGKILL) is offline once it missed three keepalives (1 s here).
# `carrier lookup` says offline with when it was last seen; `carrier ping`
# of an offline device fails with "offline" and exit status 3.
. "$(dirname "$0")/lib.sh"

make_ring 2
start_node 0
start_node 1
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key
port=$(free_port)

offline_json() { # the device is known, offline, with a last-seen time
	local j
	j=$("$CARRIER" lookup "$1" --json 2>/dev/null) || return 1
	[[ "$j" == *'"online":false,"last_seen_ms_ago":'[0-9]* ]]
}

check_offline() { # check_offline ID WHAT
	local out rc=0
	out=$("$CARRIER" lookup "$1" 2>&1) || fail "$2: lookup exit $?: $out"
	grep -Eq '^status +offline, last seen [0-9.]+ s ago$' <<<"$out" || fail "$2: lookup said: $out"
	out=$(timeout 30 "$CARRIER" ping "$1" -c 1 2>&1) || rc=$?
	[ "$rc" -eq 3 ] || fail "$2: ping exit $rc, not 3: $out"
	[[ "$out" == *"device $1 is offline: last seen"* ]] || fail "$2: ping said: $out"
}

# --- A clean stop: SIGTERM, then SIGINT ---------------------------------------
dev_id=$(device dev)
for sig in TERM INT; do
	start_agent dev --allow "$ven_id:$port"
	wait_until 15 online "$dev_id" || fail "device never attached"
	"$CARRIER" ping "$dev_id" -c 1 >/dev/null 2>&1 || fail "ping of the online device failed"
	kill -"$sig" "$AGENT_PID"
	wait "$AGENT_PID" || fail "agent exit status $? on SIG$sig"
	grep -q "told 2 home nodes the device goes offline" "$T/dev.log" || fail "agent said no goodbye"
	wait_until 10 offline_json "$dev_id" ||
		fail "SIG$sig: still online: $("$CARRIER" lookup "$dev_id" --json 2>&1)"
	check_offline "$dev_id" "SIG$sig"
	: >"$T/dev.log"
	ok "SIG$sig: the agent said goodbye; lookup says offline, ping fails with exit 3"
done
grep -q "device $dev_id said goodbye" "$T/node0.log" "$T/node1.log" || fail "no node logged the goodbye"

# --- An agent that vanishes ---------------------------------------------------
gone_id=$(device gone)
start_agent gone --keepalive 1s
wait_until 15 online "$gone_id" || fail "second device never attached"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
wait_until 20 offline_json "$gone_id" ||
	fail "a vanished device is still online: $("$CARRIER" lookup "$gone_id" --json 2>&1)"
check_offline "$gone_id" "SIGKILL"
ok "a vanished agent (1 s keepalive) is offline once it missed its keepalives"

# It comes back: online again.
start_agent gone --keepalive 1s
wait_until 15 online "$gone_id" || fail "restarted device not online again"
ok "a restarted agent is online again"
