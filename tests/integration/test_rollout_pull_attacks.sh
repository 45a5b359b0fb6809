#!/usr/bin/env bash
# Attacks on the rollout's pull (research/fleet.md 3(b), docs/fleet.md
# "Attacks"): a real agent on a one-node loopback ring runs web v1 from a
# deployment; then deployments of v2 whose release names a malicious
# origin:
#  - endless data: the origin answers the index and chunks with bytes
#    without end; the pull stops at the size the signed release names
#    (through the index it pins) and says "endless data";
#  - slow retrieval: the origin trickles the right bytes, one a second;
#    the pull stops at its deadline ($ARCHON_FETCH_DEADLINE) and says
#    "slow retrieval";
#  - mix-and-match: the origin serves v1's index and config as web:2
#    (pieces of two releases combined); the pull refuses them against the
#    release's pins: "mix-and-match".
# Each time the device reports rolled_back naming the attack (the deploy's
# halt shows it), logs it, and keeps running v1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apps_lib.sh"

# A short deadline for the trickle (the default is 120 s per request).
ARCHON_FETCH_DEADLINE=5 lab_setup 2

deploy() { lab_deploy "$1" "$2" 40s; }
on_v1() { [ "$(app_field running)" = 1 ] && [ "$(app_field version)" = 1 ]; }

release 1 1 "$T/r1"
deploy "$T/r1" "$T/deploy1.out" || fail "deploy v1: $(cat "$T/deploy1.out")"
on_v1 && state_is committed || fail "v1 did not commit: $(agent_ctl apps --json)"
[ "$(serving)" = "web v1" ] || fail "v1 does not serve"

# evil MODE [ROOT]: an origin on a free port serving ROOT ($T/origin), but the index
# and chunks (what a pull of v2 needs) by MODE: endless (200, no length,
# bytes until the client goes away) or trickle (the right length and
# bytes, one a second: a chunk of 16 bytes takes 16 s); any other MODE serves them as they are.  Each request's bytes go to $T/evil.log.
evil() {
	EVIL_PORT=$(free_port)
	python3 - "$EVIL_PORT" "${2:-$T/origin}" "$1" "$T/evil.log" >>"$T/evil.err" 2>&1 <<'PY' &
import http.server, os, sys, time
port, root, mode, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        path = os.path.join(root, self.path.lstrip("/"))
        if not os.path.isfile(path):
            self.send_response(404); self.send_header("Content-Length", "0")
            self.end_headers(); return
        body = open(path, "rb").read()
        evil = self.path.startswith(("/indexes/", "/chunks/"))
        sent = 0
        try:
            if evil and mode == "endless":
                self.send_response(200); self.send_header("Connection", "close")
                self.end_headers()
                block = b"\0" * 65536
                while sent < 1 << 30:
                    self.wfile.write(block); sent += len(block)
            elif evil and mode == "trickle":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1]); self.wfile.flush()
                    sent += 1; time.sleep(1)
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers(); self.wfile.write(body); sent = len(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        with open(log, "a") as f:
            f.write("%s %s %d\n" % (mode, self.path, sent))
        if evil:
            self.close_connection = True
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
	EVIL_PID=$!
	PIDS+=("$!")
	wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$EVIL_PORT/" || fail "the evil origin did not start"
}
stop_evil() { kill "$EVIL_PID" 2>/dev/null; wait "$EVIL_PID" 2>/dev/null || true; }

# attacked NAME OUT: the deploy halted with the device's rolled_back
# report naming NAME, the agent logged it, v1 runs and serves.
attacked() {
	grep -q "halted in wave" "$2" || fail "$1: the deploy did not halt: $(cat "$2")"
	grep -q "rolled_back: .*$1: " "$2" || fail "$1: the report does not name it: $(cat "$2")"
	grep -q "deployment seq [0-9]*: rolled_back 1: .*$1: " "$T/dev.log" ||
		fail "$1: the agent's log does not name it: $(grep "$1" "$T/dev.log")"
	on_v1 && state_is rolled_back || fail "$1: not back on v1: $(agent_ctl apps --json)"
	[ "$(serving)" = "web v1" ] || fail "$1: v1 does not serve: '$(serving)'"
}

# ---- endless data: the pull stops at the size the release names.
evil endless
ORIGIN_URL=http://127.0.0.1:$EVIL_PORT release 2 2 "$T/r2-endless"
rc=0
deploy "$T/r2-endless" "$T/deploy-endless.out" || rc=$?
[ "$rc" = 1 ] || fail "endless data: deploy exit $rc: $(cat "$T/deploy-endless.out")"
attacked "endless data" "$T/deploy-endless.out"
grep -q "endless data: .* more than the [0-9]* bytes expected" "$T/deploy-endless.out" ||
	fail "endless data: no bound named: $(cat "$T/deploy-endless.out")"
wait_until 10 grep -q "^endless /\(indexes\|chunks\)/" "$T/evil.log" || fail "the evil origin served nothing"
# The server stops when the agent hangs up: what it pushed is the bound
# plus the sockets' buffers, not the gigabyte it would send.
big=$(awk '$1 == "endless" && $3 >= 1073741824' "$T/evil.log")
[ -z "$big" ] || fail "endless data: the agent read on: $big"
stop_evil
ok "endless data: the pull stopped at the signed size, named in the report and log; v1 runs"

# ---- slow retrieval: the pull stops at its deadline.
evil trickle
ORIGIN_URL=http://127.0.0.1:$EVIL_PORT release 2 2 "$T/r2-slow"
rc=0
deploy "$T/r2-slow" "$T/deploy-slow.out" || rc=$?
[ "$rc" = 1 ] || fail "slow retrieval: deploy exit $rc: $(cat "$T/deploy-slow.out")"
attacked "slow retrieval" "$T/deploy-slow.out"
grep -q "slow retrieval: .* not complete after 5 s" "$T/deploy-slow.out" ||
	fail "slow retrieval: no deadline named: $(cat "$T/deploy-slow.out")"
stop_evil
ok "slow retrieval: the pull stopped at its deadline, named in the report and log; v1 runs"

# ---- mix-and-match: v1's index and config published as web:2 (the
# pieces of two releases combined) where the release of v2 points.
cp -a "$T/origin" "$T/mixed"
evil plain "$T/mixed"
ORIGIN_URL=http://127.0.0.1:$EVIL_PORT release 2 2 "$T/r2-mixed"
ARCHON_STORE=$T/pub-mixed "$ARCHON" import "$T/img1" web:2 >/dev/null
ARCHON_STORE=$T/pub-mixed "$ARCHON" publish web:2 --to "$T/mixed" >/dev/null
cmp -s "$T/origin/refs/web/2" "$T/mixed/refs/web/2" && fail "the mixed origin still has v2's manifest"
rc=0
deploy "$T/r2-mixed" "$T/deploy-mixed.out" || rc=$?
[ "$rc" = 1 ] || fail "mix-and-match: deploy exit $rc: $(cat "$T/deploy-mixed.out")"
attacked "mix-and-match" "$T/deploy-mixed.out"
stop_evil
ok "mix-and-match: v1's index and config as web:2 were refused, named in the report and log; v1 runs"

# ---- and the honest origin still delivers v2.
release 2 2 "$T/r2"
deploy "$T/r2" "$T/deploy2.out" || fail "deploy v2: $(cat "$T/deploy2.out")"
[ "$(app_field running)" = 2 ] && state_is committed || fail "v2: $(agent_ctl apps --json)"
ok "the honest origin then delivers v2"
