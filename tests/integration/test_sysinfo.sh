#!/usr/bin/env bash
# carrier sysinfo on loopback (docs/fleet.md "Monitoring"): a node, an
# agent whose --allow list names one vendor (a port, no shell), the vendor
# CLI.  The device's answer, end to end, agrees with this host (kernel,
# machine, CPU count, the loopback interface) and names its home link to
# the node, up, with the address the node sees; --json is one object with
# iface and ring as arrays; a vendor the device does not allow gets
# nothing.
. "$(dirname "$0")/lib.sh"

make_ring 1
start_node 0
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
vendor other >/dev/null
export CARRIER_KEY=$T/ven.key
dev_id=$(device dev)
"$CARRIER_AGENT" --key "$T/dev.key" --ring "$T/ring" --data "$T/dev.d" --keepalive 1s \
	--allow "$ven_id:$(free_port)" >>"$T/dev.log" 2>&1 &
PIDS+=("$!")
wait_until 10 online "$dev_id" || fail "device never attached"

"$CARRIER" sysinfo "$dev_id" >"$T/si.txt" 2>"$T/si.err" || fail "sysinfo: $(cat "$T/si.err")"
grep -q "^kernel  *$(uname -s) $(uname -r) " "$T/si.txt" || fail "kernel: $(cat "$T/si.txt")"
grep -q "^machine  *$(uname -m)$" "$T/si.txt" || fail "machine: $(cat "$T/si.txt")"
grep -q "^cpus  *$(getconf _NPROCESSORS_ONLN)$" "$T/si.txt" || fail "cpus: $(cat "$T/si.txt")"
grep -q "^iface  *lo up 127.0.0.1/8" "$T/si.txt" || fail "iface: $(cat "$T/si.txt")"
grep -q "^agent_version  *[0-9]" "$T/si.txt" || fail "agent_version: $(cat "$T/si.txt")"
grep -q "^nat  *\(endpoint-independent\|endpoint-dependent\|unknown\)$" "$T/si.txt" ||
	fail "nat: $(cat "$T/si.txt")"
grep -q "^transport  *udp$" "$T/si.txt" || fail "transport: $(cat "$T/si.txt")"
node_id=$("$CARRIER" id "${NODE_KEY[0]}")
grep -q "^ring  *$node_id ${NODE_ADDR[0]} up observed 127.0.0.1:[0-9]* last_pong_ms [0-9]*$" "$T/si.txt" ||
	fail "ring: $(cat "$T/si.txt")"
ok "sysinfo: kernel, machine, CPUs, interfaces, NAT, transport and the home link, as this host has them"

"$CARRIER" sysinfo "$dev_id" --json | python3 -c 'import json,sys
o = json.load(sys.stdin)
assert o["machine"] and o["kernel"] and isinstance(o["iface"], list) and isinstance(o["ring"], list), o
assert any(i.startswith("lo up 127.0.0.1/8") for i in o["iface"]), o
assert len(o["ring"]) == 1 and " up " in o["ring"][0], o' || fail "sysinfo --json"
ok "sysinfo --json: one object, iface and ring as arrays"

rc=0
"$CARRIER" sysinfo "$dev_id" --key "$T/other.key" >"$T/no.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a vendor not allowed got: $(cat "$T/no.out")"
wait_until 10 grep -q "refused vendor ven_.*: not in the allow list" "$T/dev.log" ||
	fail "the device did not log the refusal: $(tail -3 "$T/dev.log")"
ok "a vendor the device does not allow gets nothing (exit $rc), and the device logs it"
