#!/usr/bin/env bash
# carrier connect end to end on loopback: a node, an agent with an HTTP
# server behind it, and the vendor CLI.  200 requests, a 100 MB (25 MB under ASan) download and
# 20 concurrent downloads with matching sha256; refusals with clear errors
# (unauthorized vendor, forbidden port, offline device within 5 s); the
# agent killed mid-transfer gives an error, not a hang; the node never sees
# the plaintext (a marker in the HTTP body is absent from every datagram it
# handled); ping; SIGHUP changes the allow list without dropping sessions.
. "$(dirname "$0")/lib.sh"

make_ring 1
start_node 0 --capture "$T/capture.bin"
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
other_id=$(vendor other)
export CARRIER_KEY=$T/ven.key

# The device's HTTP server and its content.
mkdir -p "$T/www"
marker="KORHAL-MARKER-$RANDOM$RANDOM-PLAINTEXT"
for i in $(seq 100); do echo "$marker line $i"; done > "$T/www/index.html"
head -c $((BIG_MB * 1000000)) /dev/urandom > "$T/www/big.bin"
# For the agent killed mid-transfer: always larger than the stream windows
# and socket buffers can hold, so the kill lands inside the transfer.
truncate -s 100M "$T/www/long.bin"
head -c 5000000 /dev/urandom > "$T/www/mid.bin"
start_www

dev_id=$(device dev)
cat > "$T/agent.conf" <<CONF
key = $T/dev.key
ring = $T/ring
data = $T/dev.d
keepalive = 1s
allow = $ven_id:$http_port
CONF
"$CARRIER_AGENT" --config "$T/agent.conf" >>"$T/dev.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_until 10 online "$dev_id" || fail "device never attached"

lport=$(free_port)
# --relay: this tunnel stays on the node, whose capture proves below that it
# never sees plaintext (without it, loopback punches a direct path at once).
"$CARRIER" connect "$dev_id" "$http_port" -L "127.0.0.1:$lport" -v --relay >>"$T/connect.log" 2>&1 &
CONNECT_PID=$!
PIDS+=("$CONNECT_PID")
url=http://127.0.0.1:$lport
wait_until 10 curl -sf "$url/index.html" || fail "tunnel never came up"
grep -q "connected to .*relayed via node_" "$T/connect.log" || fail "connect -v path: $(cat "$T/connect.log")"

# A second tunnel, used once now and then left idle while the rest runs:
# checked near the end, after 50 s without stream traffic (the wait runs
# beside the other checks instead of after them).
iport=$(free_port)
"$CARRIER" connect "$dev_id" "$http_port" -L "127.0.0.1:$iport" -v --relay >>"$T/idle.log" 2>&1 &
PIDS+=("$!")
wait_until 10 curl -sf "http://127.0.0.1:$iport/index.html" -o /dev/null ||
	fail "second tunnel never came up: $(cat "$T/idle.log")"
idle_t0=$(date +%s)

# 200 requests, four at a time, each its own TCP connection and stream.
seq 200 | xargs -P4 -I{} curl -sf -o /dev/null -w '%{http_code}\n' \
	"$url/index.html?{}" > "$T/codes.txt" || fail "a request failed"
[ "$(grep -c '^200$' "$T/codes.txt")" -eq 200 ] || fail "not 200 x 200: $(sort "$T/codes.txt" | uniq -c)"
ok "200 requests through carrier connect -L"

want=$(sha256sum < "$T/www/big.bin")
t0=$(date +%s%N)
got=$(curl -sf "$url/big.bin" | sha256sum)
t1=$(date +%s%N)
[ "$got" = "$want" ] || fail "$BIG_MB MB download corrupted"
ok "$BIG_MB MB download, sha256 matches ($(( BIG_MB * 1000 / ((t1 - t0) / 1000000 + 1) )) MB/s)"

want=$(sha256sum < "$T/www/mid.bin" | cut -d' ' -f1)
pids=()
for i in $(seq 20); do
	curl -sf "$url/mid.bin?$i" -o "$T/dl.$i" & pids+=("$!")
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent download failed"; done
for i in $(seq 20); do
	[ "$(sha256sum < "$T/dl.$i" | cut -d' ' -f1)" = "$want" ] || fail "download $i corrupted"
done
ok "20 concurrent 5 MB downloads, all sha256 match"

# The node relayed everything and never saw the plaintext.
sleep 6   # the node flushes its capture file every 5 s
size=$(stat -c %s "$T/capture.bin")
[ "$size" -gt 100000000 ] || fail "capture too small ($size bytes): the check would prove nothing"
grep -q "$marker" "$T/www/index.html" || fail "marker missing from the page"
if grep -qa "$marker" "$T/capture.bin"; then fail "plaintext marker seen by the node"; fi
ok "marker absent from $size bytes of datagrams the node handled"

# ping: starts relayed, punches a direct path on loopback at once (the
# device's reflexive address 127.0.0.1:PORT is a candidate), and says so.
# Eight pings: a loaded machine (ASan, other tests) may take more than the
# first two seconds to punch.
out=$("$CARRIER" ping "$dev_id" -c 8)
[ "$(grep -c '^reply from' <<<"$out")" -eq 8 ] || fail "ping: $out"
grep -q "^PING .*: relayed via node_" <<<"$out" || fail "ping path: $out"
# The direct path is whichever of the device's candidates answers first:
# its reflexive 127.0.0.1:PORT or one of the machine's own addresses.
grep -Eq "^path changed: direct [0-9.]+:[0-9]+ \(" <<<"$out" || fail "ping path change: $out"
grep -Eq "seq=8 .* direct [0-9.]+:[0-9]+" <<<"$out" || fail "ping not direct: $out"
grep -q "8 sent, 8 received" <<<"$out" || fail "ping summary: $out"
out=$("$CARRIER" ping "$dev_id" -c 2 --relay)
grep -q "seq=2 .* relayed via node_" <<<"$out" || fail "ping --relay: $out"
ok "carrier ping: $(grep '^path changed' <<<"${out:-}" || true)relayed, then direct; --relay stays relayed"

# Refusals.
set +e
msg=$(CARRIER_KEY=$T/other.key timeout 20 "$CARRIER" connect "$dev_id" "$http_port" </dev/null 2>&1); rc=$?
set -e
[ "$rc" -eq 4 ] && grep -q "not authorized by the device" <<<"$msg" || fail "unauthorized vendor: $rc $msg"
set +e
msg=$(timeout 20 "$CARRIER" connect "$dev_id" 22 </dev/null 2>&1); rc=$?
set -e
[ "$rc" -eq 5 ] && grep -q "port 22 is not allowed" <<<"$msg" || fail "forbidden port: $rc $msg"
ghost=$(device ghost)
set +e
t0=$(date +%s%N)
msg=$(timeout 20 "$CARRIER" connect "$ghost" 80 </dev/null 2>&1); rc=$?
t1=$(date +%s%N)
set -e
[ "$rc" -eq 3 ] || fail "offline device: $rc $msg"
# The CLI itself said offline (3), not timeout's 124: it did not hang.
ok "refusals: unauthorized (4), forbidden port (5), offline in $(( (t1 - t0) / 1000000 )) ms (3)"

# SIGHUP: allow the other vendor too; the running tunnel stays up.
echo "allow = $other_id:$http_port" >> "$T/agent.conf"
kill -HUP "$AGENT_PID"
sleep 0.5
curl -sf "$url/index.html" >/dev/null || fail "existing session dropped by SIGHUP"
set +e
CARRIER_KEY=$T/other.key timeout 20 "$CARRIER" connect "$dev_id" "$http_port" \
	< <(printf 'GET /index.html HTTP/1.0\r\n\r\n') > "$T/stdio.out"; rc=$?
set -e
[ "$rc" -eq 0 ] || fail "stdio mode exit $rc"
got=$(head -c 200 "$T/stdio.out")
grep -q "200 OK" <<<"$got" || fail "newly allowed vendor (stdio mode): $got"
ok "SIGHUP extends the allow list, existing sessions keep working; stdio mode"

# An idle tunnel stays up: no stream traffic for longer than the stream
# layer's own idle timeout (30 s; the CLI's pings keep the end-to-end
# session) and than a session's dead time (45 s: the CLI's pings to the
# node keep its session with the relaying node, which sends nothing
# unasked).  The CLI never takes the quiet for blocked UDP.
left=$((idle_t0 + 50 - $(date +%s)))
[ "$left" -le 0 ] || sleep "$left"
idle=$(($(date +%s) - idle_t0))
curl -sf "http://127.0.0.1:$iport/index.html" -o /dev/null ||
	fail "the idle tunnel died: $(tail -3 "$T/idle.log")"
! grep -q "answers over" "$T/idle.log" || fail "the CLI took an idle tunnel for blocked UDP: $(grep "answers over" "$T/idle.log" | head -2)"
ok "tunnel idle for $idle s still works"

# The agent killed mid-transfer: an error, not a hang.
( set +e; curl -s --limit-rate 2M "$url/long.bin" -o /dev/null; echo "curl=$?" > "$T/curl.rc" ) &
sleep 1.5
kill -KILL "$AGENT_PID"
t0=$(date +%s)
wait_until 25 test -f "$T/curl.rc" || fail "curl hangs after the agent died"
set +e
wait_until 25 sh -c "! kill -0 $CONNECT_PID" ; wait "$CONNECT_PID"; rc=$?
set -e
[ "$rc" -eq 6 ] || fail "carrier connect exit $rc after the agent died"
grep -q "lost" "$T/connect.log" || fail "no 'lost' message: $(tail -3 "$T/connect.log")"
grep -q "curl=0" "$T/curl.rc" && fail "the download claimed success"
ok "agent killed mid-transfer: carrier connect exits 6 in $(( $(date +%s) - t0 )) s"
echo "PASS"
