#!/usr/bin/env bash
# The cross-built (static, any CR_CROSS_ARCH) device agent reaches the ring over TCP:
# it runs under the emulator with --tcp against a ring node of the host
# build listening with --tcp, attaches over TLS (the node counts one TCP
# connection), and a vendor's `carrier connect` through the node gets a
# 5 MB file from the device's HTTP server intact.  Cross builds only
# (tests/CMakeLists.txt); the node and CLI come from the host build.
set -euo pipefail
: "${CARRIER_AGENT:?run through ctest}" "${CR_EMULATOR:?}" "${CARRIER_NODE:?}" "${CARRIER:?}"
if [ "${CR_CROSS_TLS:-1}" != 1 ]; then
	echo "SKIP: agent built with -DCR_DEVICE_TLS=OFF (no TCP fallback)"
	exit 77
fi
for b in "$CARRIER_NODE" "$CARRIER"; do
	if [ ! -x "$b" ]; then
		# scripts/test.sh builds them before the armel leg's tests.
		echo "SKIP: no host build of $b (build carrier-node and carrier in the host build first)"
		exit 77
	fi
done
# The agent runs through the emulator; lib.sh starts the host's programs.
. "$KORHAL_SRC/tests/integration/lib.sh"
. "$KORHAL_SRC/tests/cross/cross_lib.sh"
cross_check_elf "$CARRIER_AGENT"

# The node listens on three ports picked in advance; on this shared
# machine another program's connection can take one first, so a node that
# cannot bind is started again on fresh ports (a new ring).
for attempt in 1 2 3; do
	rm -f "$T"/op.key* "$T"/node0.key* "$T/ring"
	make_ring 1
	mport=$(free_port)
	start_node 0 --tcp "${NODE_ADDR[0]}" --metrics "127.0.0.1:$mport"
	wait_until 10 curl -sf "http://127.0.0.1:$mport/metrics" -o /dev/null && break
	grep -q "Address already in use" "$T/node0.log" && [ "$attempt" -lt 3 ] ||
		fail "node did not start"
	kill "${NODE_PID[0]}" 2>/dev/null || true
done
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key

mkdir -p "$T/www"
head -c 5000000 /dev/urandom >"$T/www/mid.bin"
start_www

dev_id=$(device dev)
"$CR_EMULATOR" "$CARRIER_AGENT" --key "$T/dev.key" --ring "$T/ring" --data "$T/dev.d" \
	--keepalive 2s --allow "$ven_id:$http_port" --tcp >>"$T/dev.log" 2>&1 &
PIDS+=("$!")
if ! wait_until 30 online "$dev_id"; then
	if grep -q "this build has no TLS" "$T/dev.log"; then
		echo "SKIP: agent built with -DCR_DEVICE_TLS=OFF"
		exit 77
	fi
	fail "the $ARCH agent never attached over TCP"
fi
m=$(curl -sf "http://127.0.0.1:$mport/metrics")
tcp=$(sed -n 's/^carrier_node_tcp_connections \([0-9]*\)$/\1/p' <<<"$m")
[ "$tcp" = 1 ] || fail "node has $tcp TCP connections, want the agent's one: $(grep tcp <<<"$m")"
ok "$ARCH agent attached over TLS (node: 1 TCP connection)"

lport=$(free_port)
# --relay: the tunnel stays on the node, so its bytes to the device go
# over the TLS connection (a direct UDP path would bypass it).
"$CARRIER" connect "$dev_id" "$http_port" -L "127.0.0.1:$lport" -v --relay >>"$T/connect.log" 2>&1 &
PIDS+=("$!")
url=http://127.0.0.1:$lport
wait_until 30 curl -sf "$url/mid.bin" -o /dev/null || fail "tunnel never came up: $(cat "$T/connect.log")"
grep -q "connected to .*relayed via node_" "$T/connect.log" && ! grep -q "path changed: direct" "$T/connect.log" ||
	fail "connect -v path: $(cat "$T/connect.log")"
want=$(sha256sum <"$T/www/mid.bin")
got=$(curl -sf "$url/mid.bin" | sha256sum)
[ "$got" = "$want" ] || fail "5 MB download through the $ARCH agent corrupted"
ok "5 MB through carrier connect to the $ARCH agent over TCP, sha256 matches"
