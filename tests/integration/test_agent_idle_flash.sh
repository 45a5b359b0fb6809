#!/usr/bin/env bash
# An idle agent writes nothing to flash (issue 16): once attached, its
# periodic presence republish (every --presence-ttl / 2) and its pings
# make no LMDB commit.  The agent keeps its presence sequence against
# restarts as a lease an hour ahead (agent.c, agent_next_seq), so an idle
# device commits at most once an hour; before, every republish committed.
# Checked on the outcome: the node counts at least three republishes
# while agent.mdb (the agent's LMDB) is not written (size and mtime to the
# nanosecond).  bench/device-idle.sh measures the bytes per idle hour.
. "$(dirname "$0")/lib.sh"

make_ring 1
start_node_metrics 0
vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key
dev_id=$(device dev)
# Shortest allowed TTL: a republish every 5 s; pings every second.
start_agent dev --keepalive 1s --presence-ttl 10s
wait_until 20 online "$dev_id" || fail "device never came online"
mdb=$T/dev.d/agent.mdb
[ -f "$mdb" ] || fail "no $mdb: $(ls "$T/dev.d")"

# publishes_at_least N: the node stored N records of the device or more.
publishes_at_least() { [ "$(metric 0 carrier_node_publishes_total)" -ge "$1" ]; }
# The first record after attaching may commit (the lease starts); wait
# for one republish after it, then watch three more.
p0=$(metric 0 carrier_node_publishes_total)
wait_until 30 publishes_at_least $((p0 + 1)) ||
	fail "no republish within 30 s (publishes: $p0)"
before=$(stat -c '%s %y' "$mdb")
p1=$(metric 0 carrier_node_publishes_total)
wait_until 60 publishes_at_least $((p1 + 3)) ||
	fail "fewer than 3 republishes in 60 s (from $p1 to $(metric 0 carrier_node_publishes_total))"
after=$(stat -c '%s %y' "$mdb")
online "$dev_id" || fail "the device went offline while idle"
[ "$before" = "$after" ] ||
	fail "the idle agent wrote its LMDB during 3 republishes: $before -> $after"
ok "3 republishes, pings every second: agent.mdb unchanged ($after)"
