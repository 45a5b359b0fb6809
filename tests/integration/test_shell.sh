#!/usr/bin/env bash
# carrier shell on loopback: a node, an agent allowing the vendor its shell,
# the vendor CLI.  A command's output and exit status; an interactive
# session driven through a pty (resize seen by stty size, Ctrl-C stops a
# sleep, exit 3); a vendor without the shell permission refused; every
# session logged on the device with the vendor id; names resolve in
# connect, ping, lookup and shell; carrier cp of 20 MB both ways matches by
# sha256, resumes from a verified part, and after the agent is killed
# mid-copy of 60 MB the re-run resumes and matches (100 MB for both with
# KORHAL_LONG=1, the issue's figure).
. "$(dirname "$0")/lib.sh"

make_ring 1
start_node 0
vendor ven >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
vendor other >/dev/null
other_id=$("$CARRIER" id "$T/other.key")
export CARRIER_KEY=$T/ven.key

dev_id=$(device dev)
echo "hello over a port" > "$T/page.txt"
port=$(free_port)
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$T" \
	>/dev/null 2>&1 &
PIDS+=("$!")
cat > "$T/agent.conf" <<CONF
key = $T/dev.key
ring = $T/ring
data = $T/dev.d
keepalive = 1s
allow = $ven_id:$port,shell
allow = $other_id:$port
CONF
"$CARRIER_AGENT" --config "$T/agent.conf" >>"$T/dev.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_until 10 online "$dev_id" || fail "device never attached"

out=$("$CARRIER" shell "$dev_id" echo hi </dev/null) || fail "shell echo hi: exit $?"
[ "$out" = "hi" ] || fail "shell echo hi printed '$out'"
ok "carrier shell DEV echo hi prints hi"

rc=0
"$CARRIER" shell "$dev_id" sh -c 'exit 7' </dev/null || rc=$?
[ "$rc" = 7 ] || fail "sh -c 'exit 7' gave $rc"
out=$(echo "from stdin" | "$CARRIER" shell "$dev_id" cat) || fail "cat: $?"
[ "$out" = "from stdin" ] || fail "stdin to cat gave '$out'"
ok "exit status 7 comes back; stdin reaches the command and ends it"

wait_until 5 grep -q "shell: vendor $ven_id ended, exit 7" "$T/dev.log" ||
	fail "no end logged: $(grep shell: "$T/dev.log")"
grep -qF "shell: vendor $ven_id started: 'sh' '-c' 'exit 7' (pid" "$T/dev.log" || fail "no start logged"
ok "sessions logged on the device with the vendor id"

# Refused for a vendor without the shell permission, with a clear message.
rc=0
CARRIER_KEY=$T/other.key "$CARRIER" shell "$dev_id" echo no </dev/null \
	>"$T/other.out" 2>"$T/other.err" || rc=$?
[ "$rc" = 5 ] || fail "other vendor's shell: exit $rc ($(cat "$T/other.err"))"
grep -q "the shell is not allowed for this vendor" "$T/other.err" ||
	fail "refusal message: $(cat "$T/other.err")"
[ ! -s "$T/other.out" ] || fail "the refused vendor got output"
grep -q "shell: refused vendor $other_id" "$T/dev.log" || fail "refusal not logged"
# Its ports still work.
CARRIER_KEY=$T/other.key "$CARRIER" connect "$dev_id" "$port" </dev/null >/dev/null 2>&1 || true
ok "a vendor without --allow VENDOR:shell is refused (exit 5, clear message)"

# Interactive, through a pty.
cat > "$T/drive.py" <<'PY'
import os, pty, sys, time, select, signal, fcntl, termios, struct
carrier, dev = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    os.execv(carrier, [carrier, "shell", dev])
buf = b""
def read_until(pat, t=20):
    global buf
    end = time.time() + t
    while time.time() < end:
        if pat in buf:
            return True
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                return pat in buf
            if not d:
                return pat in buf
            buf += d
    return pat in buf
def send(s):
    os.write(fd, s)
def fail(msg):
    sys.stderr.write("FAIL: %s\noutput: %r\n" % (msg, buf[-2000:]))
    os.kill(pid, signal.SIGKILL)
    sys.exit(1)
send(b"PS1='RDY> '; export PS1\r")
if not read_until(b"RDY> "):
    fail("no prompt")
send(b"stty size\r")
if not read_until(b"24 80"):
    fail("initial size")
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))
os.kill(pid, signal.SIGWINCH)
time.sleep(0.5)
buf = b""
send(b"stty size\r")
if not read_until(b"40 132"):
    fail("resize not seen")
buf = b""
send(b"sleep 100; echo AFTER-$((40+2))\r")
time.sleep(1.0)
t0 = time.time()
send(b"\x03")
if not read_until(b"RDY> ", 10):
    fail("Ctrl-C did not interrupt sleep")
if b"AFTER-42" in buf:
    fail("the sleep ran to its end")
send(b"exit 3\r")
_, st = os.waitpid(pid, 0)
code = os.WEXITSTATUS(st) if os.WIFEXITED(st) else -1
if code != 3:
    fail("exit status %d" % code)
print("interactive ok")
PY
timeout 60 python3 "$T/drive.py" "$CARRIER" "$dev_id" || fail "interactive session"
ok "interactive pty: stty size follows a resize, Ctrl-C stops sleep 100, exit 3 gives 3"

# Names.
"$CARRIER" name "$dev_id" garage-pi || fail "carrier name"
out=$("$CARRIER" names)
grep -qx "garage-pi $dev_id" <<<"$out" || fail "names: $("$CARRIER" names)"
out=$("$CARRIER" shell garage-pi echo named </dev/null) || fail "shell by name"
[ "$out" = named ] || fail "shell by name printed '$out'"
out=$("$CARRIER" ping garage-pi -c 1) || fail "ping by name: exit $?"
grep -q "reply from $dev_id" <<<"$out" || fail "ping by name: $out"
out=$("$CARRIER" lookup garage-pi --json) || fail "lookup by name: exit $?"
grep -q '"online":true' <<<"$out" || fail "lookup by name: $out"
got=$("$CARRIER" connect garage-pi "$port" <<<"$(printf 'GET /page.txt HTTP/1.0\r\n\r\n')") ||
	fail "connect by name"
grep -q "hello over a port" <<<"$got" || fail "connect by name: $got"
rc=0
"$CARRIER" ping no-such-name -c 1 2>"$T/noname.err" || rc=$?
[ "$rc" = 2 ] || fail "unknown name: exit $rc"
grep -q "neither a device id nor a known name" "$T/noname.err" || fail "unknown name: $(cat "$T/noname.err")"
"$CARRIER" name rm garage-pi || fail "name rm"
out=$("$CARRIER" names)
grep -q garage-pi <<<"$out" && fail "name rm left it"
rc=0
"$CARRIER" name "$dev_id" "$dev_id" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "an id as a name: exit $rc"
ok "names resolve in shell, ping, lookup and connect; rm; bad names refused"

# carrier cp both ways, sha256 checked.
if [ -n "${KORHAL_LONG:-}" ]; then
	CP_BIG=100000000 CP_HUGE=100000000 CP_TIMEOUT=600
else
	CP_BIG=20000000 CP_HUGE=60000000 CP_TIMEOUT=120
fi
head -c "$CP_BIG" /dev/urandom > "$T/big.bin"
want=$(sha256sum < "$T/big.bin" | cut -d' ' -f1)
mkdir -p "$T/remote"
"$CARRIER" cp "$T/big.bin" "$dev_id:$T/remote/big.bin" 2>"$T/cp.err" || fail "cp up: $(cat "$T/cp.err")"
[ "$(sha256sum < "$T/remote/big.bin" | cut -d' ' -f1)" = "$want" ] || fail "uploaded copy differs"
[ ! -e "$T/remote/big.bin.carrier-part" ] || fail "part left behind"
grep -q "sha256 $want" "$T/cp.err" || fail "cp up did not report the hash: $(cat "$T/cp.err")"
timeout "$CP_TIMEOUT" "$CARRIER" cp "$dev_id:$T/remote/big.bin" "$T/down.bin" 2>"$T/cp.err" || fail "cp down: $(cat "$T/cp.err")"
[ "$(sha256sum < "$T/down.bin" | cut -d' ' -f1)" = "$want" ] || fail "downloaded copy differs"
grep -q "shell: vendor $ven_id started: tail -c +1 '$T/remote/big.bin'" "$T/dev.log" ||
	fail "download not logged with the vendor id"
rc=0
CARRIER_KEY=$T/other.key "$CARRIER" cp "$T/big.bin" "$dev_id:$T/remote/other.bin" 2>/dev/null || rc=$?
[ "$rc" = 5 ] && [ ! -e "$T/remote/other.bin.carrier-part" ] || fail "cp by a vendor without the shell: exit $rc"
ok "carrier cp of $((CP_BIG / 1000000)) MB both ways matches by sha256; refused without the shell permission"

# Resume: a partial part with the right prefix is continued, not resent.
head -c 7000000 "$T/big.bin" > "$T/remote/again.bin.carrier-part"
"$CARRIER" cp "$T/big.bin" "$dev_id:$T/remote/again.bin" 2>"$T/cp.err" || fail "cp resume: $(cat "$T/cp.err")"
grep -q "resuming .* at 7000000 bytes" "$T/cp.err" || fail "no resume: $(cat "$T/cp.err")"
[ "$(sha256sum < "$T/remote/again.bin" | cut -d' ' -f1)" = "$want" ] || fail "resumed upload differs"
# A part whose prefix does not match starts over.
head -c 5000000 /dev/urandom > "$T/remote/bad.bin.carrier-part"
"$CARRIER" cp "$T/big.bin" "$dev_id:$T/remote/bad.bin" 2>"$T/cp.err" || fail "cp over a bad part: $(cat "$T/cp.err")"
grep -q resuming "$T/cp.err" && fail "resumed from a part that does not match"
[ "$(sha256sum < "$T/remote/bad.bin" | cut -d' ' -f1)" = "$want" ] || fail "upload over a bad part differs"
head -c 3000000 "$T/big.bin" > "$T/down2.bin.carrier-part"
"$CARRIER" cp "$dev_id:$T/remote/big.bin" "$T/down2.bin" 2>"$T/cp.err" || fail "cp down resume: $(cat "$T/cp.err")"
grep -q "resuming .* at 3000000 bytes" "$T/cp.err" || fail "no download resume: $(cat "$T/cp.err")"
[ "$(sha256sum < "$T/down2.bin" | cut -d' ' -f1)" = "$want" ] || fail "resumed download differs"
ok "cp resumes from a part whose sha256 matches the source's prefix (both ways), starts over otherwise"

# The agent killed mid-copy: the copy fails, the part stays; run again
# with the agent back, the copy resumes from the part and matches.
head -c "$CP_HUGE" /dev/urandom > "$T/huge.bin"
want=$(sha256sum < "$T/huge.bin" | cut -d' ' -f1)
"$CARRIER" cp "$T/huge.bin" "$dev_id:$T/remote/huge.bin" 2>"$T/cpk.err" &
CP_PID=$!
PIDS+=("$CP_PID")
part_over() { [ "$(stat -c %s "$T/remote/huge.bin.carrier-part" 2>/dev/null || echo 0)" -gt "$1" ]; }
wait_until 60 part_over 4000000 || fail "the copy never got going: $(cat "$T/cpk.err")"
kill -KILL "$AGENT_PID"
rc=0
wait "$CP_PID" || rc=$?
[ "$rc" != 0 ] || fail "cp survived the agent's death"
[ ! -e "$T/remote/huge.bin" ] || fail "an unverified copy took the final name"
had=$(stat -c %s "$T/remote/huge.bin.carrier-part")
"$CARRIER_AGENT" --config "$T/agent.conf" >>"$T/dev.log" 2>&1 &
PIDS+=("$!")
wait_until 20 online "$dev_id" || fail "agent not back"
"$CARRIER" cp "$T/huge.bin" "$dev_id:$T/remote/huge.bin" 2>"$T/cpk.err" || fail "cp after the kill: $(cat "$T/cpk.err")"
grep -q "resuming .* at [1-9][0-9]* bytes" "$T/cpk.err" || fail "no resume after the kill: $(cat "$T/cpk.err")"
[ "$(sha256sum < "$T/remote/huge.bin" | cut -d' ' -f1)" = "$want" ] || fail "copy after the kill differs"
ok "agent killed mid-copy of $((CP_HUGE / 1000000)) MB ($had bytes in the part): cp fails, the re-run resumes and matches"
