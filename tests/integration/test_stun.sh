#!/usr/bin/env bash
# A ring node answers standard STUN Binding requests on its UDP port:
# Debian's `stun` client (RFC 3489, MAPPED-ADDRESS) and an RFC 8489 request
# with FINGERPRINT (XOR-MAPPED-ADDRESS) both learn their own source address;
# a request asking for another source address (CHANGE-REQUEST) gets no
# answer, and the node counts both in its metrics.
. "$(dirname "$0")/lib.sh"

command -v stun >/dev/null || { echo "SKIP: Debian's stun-client is not installed"; exit 77; }
make_ring 1
mport=$(free_port)
start_node 0 --metrics "127.0.0.1:$mport"
port=${NODE_ADDR[0]##*:}
wait_until 10 curl -sf "http://127.0.0.1:$mport/metrics" -o /dev/null || fail "node did not start"

# The classic client, test 1 only (a plain Binding request), from a fixed
# source port so the answer can be checked.
src=$(free_port)
out=$(timeout 10 stun "127.0.0.1:$port" 1 -v -p "$src" 2>&1) || true
grep -q "MappedAddress = 127.0.0.1:$src" <<<"$out" || fail "stun client: $out"
ok "stun-client learns 127.0.0.1:$src"

# An RFC 8489 request with FINGERPRINT; the answer must carry the cookie,
# our transaction id, XOR-MAPPED-ADDRESS and a valid FINGERPRINT.
python3 - "$port" <<'PY' || fail "RFC 8489 Binding request"
import os, socket, struct, sys, zlib
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); s.settimeout(3)
tx = os.urandom(12)
hdr = struct.pack("!HHI", 1, 8, 0x2112A442) + tx
fp = zlib.crc32(hdr) ^ 0x5354554E
s.sendto(hdr + struct.pack("!HHI", 0x8028, 4, fp), ("127.0.0.1", port))
d, _ = s.recvfrom(2000)
t, ln, cookie = struct.unpack("!HHI", d[:8])
assert t == 0x0101 and cookie == 0x2112A442 and d[8:20] == tx and ln == len(d) - 20, d.hex()
off, xma, fpok = 20, None, False
while off < len(d):
    at, al = struct.unpack("!HH", d[off:off + 4]); v = d[off + 4:off + 4 + al]
    if at == 0x0020:
        xport = struct.unpack("!H", v[2:4])[0] ^ 0x2112
        xip = bytes(a ^ b for a, b in zip(v[4:8], struct.pack("!I", 0x2112A442)))
        xma = (socket.inet_ntoa(xip), xport)
    if at == 0x8028:
        fpok = struct.unpack("!I", v)[0] == zlib.crc32(d[:off]) ^ 0x5354554E
    off += 4 + ((al + 3) & ~3)
assert xma == s.getsockname(), (xma, s.getsockname())
assert fpok, "fingerprint"
# CHANGE-REQUEST (change IP and port): a node cannot, so no answer.
hdr = struct.pack("!HHI", 1, 8, 0x2112A442) + os.urandom(12)
s.sendto(hdr + struct.pack("!HHI", 3, 4, 6), ("127.0.0.1", port))
s.settimeout(0.5)
try:
    s.recvfrom(2000); sys.exit("answered a CHANGE-REQUEST")
except socket.timeout:
    pass
print("ok: RFC 8489 XOR-MAPPED-ADDRESS %s:%d, FINGERPRINT valid" % xma)
PY

m=$(curl -sf "http://127.0.0.1:$mport/metrics")
grep -q '^carrier_node_stun_answered_total 2$' <<<"$m" || fail "answered count: $(grep stun <<<"$m")"
grep -q '^carrier_node_stun_dropped_total 1$' <<<"$m" || fail "dropped count: $(grep stun <<<"$m")"
ok "metrics count 2 answered, 1 dropped"
