#!/usr/bin/env bash
# An interrupted archon pull resumes: the chunks a killed pull fetched and
# verified are kept (the store's partial/ folder), so the next pull fetches
# only the rest (counted on the origin's request log, never by timing).
# Progress: on stderr with --progress (phase, sizes in KiB/MiB, rate),
# nothing on stderr by default when it is not a terminal, nor with --quiet.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"
P=$T/pub D=$T/dev W=$T/www
"$CARRIER" keygen --type vendor -o "$T/ven.key" >/dev/null
export ARCHON_PUBLISHER_KEY=$T/ven.key.pub

mkdir -p "$T/v1"
for i in 1 2 3 4; do head -c 1000000 /dev/urandom >"$T/v1/f$i"; done
"$ARCHON" --store "$P" import "$T/v1" app:1 >/dev/null
ARCHON_ZSTD_LEVEL=1 "$ARCHON" --store "$P" publish app:1 --to "$W" --key "$T/ven.key" >/dev/null
total=$(find "$W/chunks" -type f | wc -l)
[ "$total" -gt 300 ] || fail "only $total chunks published"

# A slow origin on loopback (10 ms per chunk), logging each path answered.
port=$(free_port)
python3 - "$W" "$port" "$T/access.log" >"$T/origin.log" 2>&1 <<'PY' &
import functools, http.server, sys, time
root, port, log = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "a")
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/chunks/"):
            time.sleep(0.01)
        super().do_GET()
        log.write(self.path + "\n"); log.flush()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port),
    functools.partial(H, directory=root)).serve_forever()
PY
PIDS+=("$!")
URL=http://127.0.0.1:$port
wait_until 10 curl -sf -o /dev/null "$URL/refs/app/1" || fail "origin did not start"
: >"$T/access.log"
chunk_reqs() { grep -c '^/chunks/' "$1" || true; }

# The first pull is killed once a third of the chunks came.
"$ARCHON" --store "$D" pull "$URL" app:1 >"$T/pull1.out" 2>"$T/pull1.err" &
pid=$!
third() { [ "$(chunk_reqs "$T/access.log")" -ge $((total / 3)) ]; }
wait_until 60 third || fail "the pull did not progress: $(cat "$T/pull1.out" "$T/pull1.err")"
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
"$ARCHON" --store "$D" ls | grep -q "^app:1 " && fail "the pull completed before the kill: make the origin slower"
first=$(chunk_reqs "$T/access.log")
[ -s "$T/pull1.err" ] && fail "progress on stderr that is not a terminal: $(cat "$T/pull1.err")"
cp "$T/access.log" "$T/access1.log"; : >"$T/access.log"

"$ARCHON" --store "$D" pull "$URL" app:1 --progress >"$T/pull2.out" 2>"$T/pull2.err" ||
	fail "the second pull: $(cat "$T/pull2.out" "$T/pull2.err")"
second=$(chunk_reqs "$T/access.log")
cat "$T/pull2.out"; tail -n 2 "$T/pull2.err"
echo "chunks: $total published, $first fetched before the kill, $second after"
[ "$second" -lt $((total - total / 3 + 3)) ] || fail "the second pull fetched $second of $total chunks"
# Each chunk is fetched once over both pulls (one may have been in flight).
both=$(sort -u "$T/access1.log" "$T/access.log" | grep -c '^/chunks/')
[ $((first + second - both)) -le 2 ] || fail "$((first + second - both)) chunks fetched twice"
[ "$both" -eq "$total" ] || fail "$both distinct chunks fetched, $total published"
grep -q "kept from an interrupted pull" "$T/pull2.out" || fail "the pull does not say it resumed"
"$ARCHON" --store "$D" checkout app:1 "$T/co"
diff -r "$T/v1" "$T/co" || fail "the resumed pull differs from the source"
"$ARCHON" --store "$D" verify >/dev/null || fail "verify"
[ -z "$(ls -A "$D/partial" 2>/dev/null)" ] || fail "partial/ not emptied after the pull"
ok "a killed pull resumes: $first chunks before the kill, $second after, of $total"

grep -Eq "^pull: fetching: [0-9.]+ (B|KiB|MiB) of [0-9.]+ (KiB|MiB) \([0-9]+%\), [0-9.]+ (B|KiB|MiB)/s" "$T/pull2.err" ||
	fail "no progress line with --progress: $(cat "$T/pull2.err")"
"$ARCHON" --store "$T/d2" pull "$URL" app:1 --progress --quiet >/dev/null 2>"$T/pull3.err" || fail "quiet pull"
[ -s "$T/pull3.err" ] && fail "--quiet printed: $(cat "$T/pull3.err")"
"$ARCHON" --store "$P" publish app:1 --to "$T/www2" --key "$T/ven.key" --progress >/dev/null 2>"$T/pub.err"
grep -Eq "^publish: compressing chunks: .* of [0-9.]+ MiB \(100%\)" "$T/pub.err" || fail "publish progress: $(cat "$T/pub.err")"
ok "progress on stderr with --progress, none when not a terminal or with --quiet"
