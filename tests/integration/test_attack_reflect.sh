#!/usr/bin/env bash
# Attack: reflection and amplification through roaming.  A device session
# publishes a maximal presence record; a vendor session made from
# 127.0.0.1 then sends lookups of it from 127.0.0.9 instead (authentic
# datagrams of the session from a second, spoofable source, as an attacker
# forwarding captured datagrams with a forged source would; each ~70-byte
# lookup used to bring back a ~900-byte reply).  The session follows the
# new address, but until the peer there answers a path challenge the node
# sends it at most 3 times the bytes it received from it: 127.0.0.9,
# which never answers, gets no more than 3x.  Then the session really
# moves to 127.0.0.9 (it answers the challenge) and every lookup is
# answered, but maybe the first (sent before the answer): a peer whose
# address changed keeps working (as the agents in test_path_change and
# test_failover do).
. "$(dirname "$0")/lib.sh"
: "${ATTACK:?run through ctest}"

N=300
make_ring 1
start_node_metrics 0
wait_until 10 curl -sf "http://${METRICS[0]}/metrics" -o /dev/null || fail "node did not start"

vendor evil >/dev/null
device dev >/dev/null
"$ATTACK" reflect "$T/evil.key" "$T/dev.key" "${NODE_KEY[0]}.pub" "${NODE_ADDR[0]}" 127.0.0.9 $N \
	>"$T/attack.out" 2>"$T/attack.err" || fail "attack: $(cat "$T/attack.err")"
read -r _ _ sent _ received < <(grep '^reflect:' "$T/attack.out")
ok "127.0.0.9 sent $sent bytes of lookups and received $received bytes"
[ "$sent" -gt $((N * 50)) ] || fail "only $sent bytes sent"
[ "$received" -le $((3 * sent)) ] || fail "127.0.0.9 got $received bytes for $sent (more than 3x)"
limited=$(metric 0 carrier_node_path_limited_total)
[ "$limited" -gt $((N / 2)) ] || fail "only $limited datagrams held back by the path budget"
ok "the node held back $limited datagrams to the unvalidated address"

read -r _ _ answered _ < <(grep '^moved:' "$T/attack.out")
# The first reply may be held back (the path is validated by the answer
# to the challenge that lookup brought): lost as on any path, and asked
# again by a real client.
[ "$answered" -ge 19 ] || fail "after a real move, $answered of 20 lookups answered"
validated=$(metric 0 carrier_node_paths_validated_total)
[ "$validated" -ge 1 ] || fail "the new path was never validated"
ok "a real move: the path was validated and $answered of 20 lookups answered"
echo "PASS"
