#!/usr/bin/env bash
# carrier holds vendor and operator secret keys: it must never leave them
# in a core file.  A `carrier lookup` waiting on a ring whose node is down
# shows a core size limit of 0 and (when not root, where it shows) a
# non-dumpable process: /proc/PID belongs to root.
. "$(dirname "$0")/lib.sh"

make_ring 1 # the node is never started: lookup waits for it
vendor ven >/dev/null
dev_id=$(device dev)
export CARRIER_KEY=$T/ven.key
"$CARRIER" lookup "$dev_id" >"$T/lookup.out" 2>&1 &
pid=$!
PIDS+=("$pid")
# The limit is set at the start of main(): wait for it (the process is
# visible before, while the loader and sanitizers start).
core_off() { grep -Eq '^Max core file size +0 +0 ' "/proc/$pid/limits"; }
wait_until 10 core_off ||
	fail "core dumps allowed: $(grep core "/proc/$pid/limits" 2>&1) $(cat "$T/lookup.out")"
ok "core size limit 0"
if [ "$(id -u)" -ne 0 ]; then
	root_owned() { [ "$(stat -c %u "/proc/$pid/status")" -eq 0 ]; }
	wait_until 10 root_owned || fail "carrier is dumpable (/proc/$pid not root's)"
	ok "not dumpable"
fi
