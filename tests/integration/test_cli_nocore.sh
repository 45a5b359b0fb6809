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
wait_until 10 test -r "/proc/$pid/limits" || fail "no /proc/$pid/limits"
limits=$(cat "/proc/$pid/limits") || fail "carrier lookup ended too soon: $(cat "$T/lookup.out")"
grep -Eq '^Max core file size +0 +0 ' <<<"$limits" || fail "core dumps allowed: $(grep core <<<"$limits")"
ok "core size limit 0"
if [ "$(id -u)" -ne 0 ]; then
	owner=$(stat -c %u "/proc/$pid/status") || fail "carrier lookup ended too soon"
	[ "$owner" -eq 0 ] || fail "carrier is dumpable (/proc/$pid owned by $owner)"
	ok "not dumpable"
fi
