#!/usr/bin/env bash
# Attack: TCP connections to the node's TLS fallback (--tcp) that never
# start TLS, many from one address.  The node accepts at most
# --tcp-per-addr from one IP and --tcp-max in all (the rest it closes at
# once: counted as carrier_node_tcp_refused{,_addr}_total), closes every
# connection whose TLS handshake is not done by --tcp-handshake-timeout,
# and a real agent with --tcp attaches once the flood's slots are freed.
# The old listener held every connection for 3 minutes.
. "$(dirname "$0")/lib.sh"

PER_ADDR=8 MAX=12 N=40
make_ring 1
start_node_metrics 0 --tcp "${NODE_ADDR[0]}" --tcp-per-addr $PER_ADDR --tcp-max $MAX \
	--tcp-handshake-timeout 3s
wait_until 10 curl -sf "http://${METRICS[0]}/metrics" -o /dev/null || fail "node did not start"
port=${NODE_ADDR[0]##*:}

# hold SRC_IP N: N connections from SRC_IP, none of them speaking TLS;
# prints how many the node closed within 1 s ("early N"), then how long
# the last open one lasted ("closed after S s"; "still open" after 20 s).
hold() {
	python3 - "$1" "$2" "$port" <<'PY'
import select, socket, sys, time
src, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    socks.append(s)
t0 = time.time()
def closed(s):
    try:
        return s.recv(1, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
time.sleep(1)
gone = {s for s in socks if closed(s)}
print("early", len(gone), flush=True)
while len(gone) < n and time.time() - t0 < 20:
    select.select([s for s in socks if s not in gone], [], [], 0.2)
    gone |= {s for s in socks if s not in gone and closed(s)}
print("closed after %.1f s" % (time.time() - t0) if len(gone) == n else "still open", flush=True)
PY
}

hold 127.0.0.1 $N >"$T/hold1.out" 2>&1 &
PIDS+=("$!")
wait_until 10 grep -q early "$T/hold1.out" || fail "hold: $(cat "$T/hold1.out")"
hold 127.0.0.2 $N >"$T/hold2.out" 2>&1 &
PIDS+=("$!")
wait_until 10 grep -q early "$T/hold2.out" || fail "hold: $(cat "$T/hold2.out")"
early1=$(sed -n 's/^early //p' "$T/hold1.out") early2=$(sed -n 's/^early //p' "$T/hold2.out")
conns=$(metric 0 carrier_node_tcp_connections)
[ "$conns" -le "$MAX" ] || fail "$conns connections held (tcp-max $MAX)"
[ "$early1" -eq $((N - PER_ADDR)) ] || fail "127.0.0.1: $((N - early1)) of $N kept open (tcp-per-addr $PER_ADDR)"
[ "$early2" -eq $((N - (MAX - PER_ADDR))) ] || fail "127.0.0.2: $((N - early2)) of $N kept open (room left $((MAX - PER_ADDR)))"
ok "$N connections from each of two addresses: $conns held, $(metric 0 carrier_node_tcp_refused_addr_total) refused by tcp-per-addr, $(metric 0 carrier_node_tcp_refused_total) by tcp-max"

# No TLS handshake: closed after the deadline.
wait_until 25 grep -q "closed after\|still open" "$T/hold1.out" || fail "hold did not finish"
grep -q "closed after" "$T/hold1.out" || fail "connections without TLS still open after 20 s"
wait_until 10 grep -q "closed after" "$T/hold2.out" || fail "127.0.0.2: $(cat "$T/hold2.out")"
timeouts=$(metric 0 carrier_node_tcp_handshake_timeouts_total)
[ "$timeouts" -eq "$MAX" ] || fail "$timeouts handshake timeouts (want $MAX)"
ok "the held connections closed at the handshake deadline: $(tail -1 "$T/hold1.out")"

# A real agent over TCP.
vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key
dev_id=$(device dev)
start_agent dev --keepalive 1s --tcp
wait_until 15 online "$dev_id" || fail "the agent did not attach over TCP"
[ "$(metric 0 carrier_node_tcp_connections)" -ge 1 ] || fail "the agent's TCP connection is not counted"
sleep 4 # beyond the handshake deadline: a connection that did TLS stays
online "$dev_id" || fail "the agent's TCP connection was closed after the handshake deadline"
ok "an agent with --tcp attached and stays"
echo "PASS"
