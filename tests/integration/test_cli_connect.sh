#!/usr/bin/env bash
# `carrier connect -L` to a port the device refuses: the verbose line no
# longer claims the port is connected; the refusal is reported when a
# local client connects ("not allowed" or "nothing accepts connections"),
# and the listener stays for the next connection (a device's app may still
# be starting); stdio mode exits with the refusal's status (5 for a port not
# allowed, 1 for one nothing listens on).
. "$(dirname "$0")/lib.sh"

make_ring 1
start_node 0
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key
closed=$(free_port)    # allowed, nothing listens on it
forbidden=$(free_port) # not allowed
dev_id=$(device dev)
start_agent dev --keepalive 1s --allow "$ven_id:$closed"
wait_until 15 online "$dev_id" || fail "device never attached"

listening() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1"; }

for case in "forbidden $forbidden 5 port $forbidden is not allowed for this vendor" \
	"closed $closed 1 nothing accepts connections on port $closed"; do
	read -r name port want msg <<<"$case"
	LPORT=$(free_port)
	"$CARRIER" connect "$dev_id" "$port" -L "127.0.0.1:$LPORT" -v >"$T/$name.out" 2>"$T/$name.log" &
	CPID=$!
	PIDS+=("$CPID")
	wait_until 15 grep -q "listening on" "$T/$name.log" || fail "$name: never listened: $(cat "$T/$name.log")"
	grep -Eq "connected to $dev_id, (relayed via node_|direct ).*; each local connection opens port $port" "$T/$name.log" ||
		fail "$name: verbose line: $(cat "$T/$name.log")"
	grep -q "connected to $dev_id:$port" "$T/$name.log" && fail "$name: claims the port is connected"
	curl -s -m 5 -o /dev/null "http://127.0.0.1:$LPORT/" && fail "$name: the local client got an answer"
	wait_until 15 grep -q "device $dev_id refused: $msg; local connection closed" "$T/$name.log" ||
		fail "$name: refusal not reported: $(cat "$T/$name.log")"
	kill -0 "$CPID" || fail "$name: connect -L -v ended on a refused connection"
	kill "$CPID"
	# stdio mode: the refusal is the command's status.
	set +e
	timeout 30 "$CARRIER" connect "$dev_id" "$port" </dev/null >/dev/null 2>"$T/$name.stdio"
	rc=$?
	set -e
	[ "$rc" -eq "$want" ] || fail "$name: stdio exit $rc, not $want: $(cat "$T/$name.stdio")"
	grep -q "device $dev_id refused: $msg" "$T/$name.stdio" || fail "$name: stdio: $(cat "$T/$name.stdio")"
	ok "connect -L -v to a $name port: '$msg' reported, listener kept; stdio exits $rc"
done

# Without -v: each refused local connection is reported, the listener stays.
LPORT=$(free_port)
"$CARRIER" connect "$dev_id" "$closed" -L "127.0.0.1:$LPORT" >"$T/quiet.out" 2>"$T/quiet.log" &
CPID=$!
PIDS+=("$CPID")
wait_until 15 listening "$LPORT" || fail "quiet: never listened: $(cat "$T/quiet.log")"
for i in 1 2; do
	curl -s -m 5 -o /dev/null "http://127.0.0.1:$LPORT/" && fail "quiet: the local client got an answer"
done
wait_until 10 sh -c "[ \$(grep -c 'nothing accepts connections on port $closed' '$T/quiet.log') -ge 2 ]" ||
	fail "quiet: refusals not reported: $(cat "$T/quiet.log")"
kill -0 "$CPID" || fail "quiet: connect -L without -v ended"
listening "$LPORT" || fail "quiet: listener gone"
ok "connect -L without -v reports each refused connection and keeps listening"
