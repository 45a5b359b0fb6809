#!/usr/bin/env bash
# A stream survives a change of path: the device is attached to two nodes,
# a download runs through `carrier connect` relayed by one of them, that node
# is killed with SIGKILL, and the CLI moves the end-to-end session to the
# other node; the download completes byte-exact.  (--relay: on loopback a
# direct path would be punched at once, and this test is about the relay.)
. "$(dirname "$0")/lib.sh"

make_ring 2
start_node 0
start_node 1
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key

mkdir -p "$T/www"
head -c 30000000 /dev/urandom > "$T/www/blob.bin"
start_www

dev_id=$(device dev)
start_agent dev --keepalive 1s --attach 2 --allow "$ven_id:$http_port"
two_live() {
	"$CARRIER" lookup "$dev_id" --json 2>/dev/null | grep -o '"live":true' | wc -l | grep -q '^2$'
}
wait_until 15 two_live || fail "device not attached to both nodes: $("$CARRIER" lookup "$dev_id" 2>&1)"
ok "device attached to both nodes"

lport=$(free_port)
"$CARRIER" connect "$dev_id" "$http_port" -L "127.0.0.1:$lport" -v --relay >>"$T/connect.log" 2>&1 &
PIDS+=("$!")
url=http://127.0.0.1:$lport
wait_until 10 curl -sf "$url/" -o /dev/null || fail "tunnel never came up"
relay=$(sed -n 's/.*relayed via node_[a-z0-9]* (\(127[^)]*\)).*/\1/p' "$T/connect.log" | head -1)
victim=-1
for i in 0 1; do [ "${NODE_ADDR[$i]}" = "$relay" ] && victim=$i; done
[ "$victim" -ge 0 ] || fail "cannot tell the relaying node from: $(cat "$T/connect.log")"

( set +e; curl -s --limit-rate 5M "$url/blob.bin" -o "$T/got.bin"; echo "rc=$?" > "$T/curl.rc" ) &
sleep 2
kill -KILL "${NODE_PID[$victim]}"
ok "killed the relaying node $relay mid-download"
wait_until 40 test -f "$T/curl.rc" || fail "download hangs"
grep -q "rc=0" "$T/curl.rc" || fail "download failed: $(cat "$T/curl.rc"); $(tail -3 "$T/connect.log")"
cmp -s "$T/got.bin" "$T/www/blob.bin" || fail "download corrupted across the path change"
grep -q "path changed: relayed via" "$T/connect.log" || fail "no path change reported"
grep -q "direct" "$T/connect.log" && fail "--relay punched a direct path: $(cat "$T/connect.log")"
ok "the stream survived the path change: $(grep 'path changed' "$T/connect.log" | head -1)"
echo "PASS"
