#!/usr/bin/env bash
# Attack: the shard cache as an open fetcher (SSRF).  A requester without
# credentials names an origin in the request; the node must not fetch from
# an origin its operator did not name, must not follow a named origin's
# redirect elsewhere, must not connect to an internal address reached by
# a host name (a name resolving to loopback stands in for DNS rebinding
# and cloud metadata services), and must answer a body too short and one
# too long with the same error (else the size can be binary-searched and a
# delta of exactly that size returns the body).  The internal page is a
# python http.server on 127.0.0.1 holding a secret.
. "$(dirname "$0")/lib.sh"

SECRET=internal-only-secret-$RANDOM$RANDOM
A=$(printf 'a%.0s' $(seq 64)) B=$(printf 'b%.0s' $(seq 64))
X=$(printf 'c%.0s' $(seq 64)) Y=$(printf 'd%.0s' $(seq 64))
S=${#SECRET}

# The internal service: the secret at every path a delta request makes.
mkdir -p "$T/www/deltas" "$T/sizer/deltas" "$T/sizer/indexes"
printf '%s' "$SECRET" >"$T/www/deltas/$A-$B"
start_www
INTERNAL=http://127.0.0.1:$http_port
# A named origin: one good delta (the positive control), and two indexes
# of the wrong size (one byte short, one byte long of size=100).
printf 'hello' >"$T/sizer/deltas/$A-$B"
head -c 99 /dev/urandom >"$T/sizer/indexes/$X"
head -c 101 /dev/urandom >"$T/sizer/indexes/$Y"
sizer_port=$(free_port)
python3 -m http.server "$sizer_port" --bind 127.0.0.1 --directory "$T/sizer" \
	>"$T/sizer.log" 2>&1 &
PIDS+=("$!")
SIZER=http://127.0.0.1:$sizer_port
# A named origin that redirects every request to the internal service.
redir_port=$(free_port)
python3 - "$redir_port" "$INTERNAL" >>"$T/redir.log" 2>&1 <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", sys.argv[2] + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PIDS+=("$!")
REDIR=http://127.0.0.1:$redir_port
for u in "$SIZER" "$REDIR"; do
	wait_until 10 curl -s -o /dev/null "$u/" || fail "$u did not start"
done

make_ring 3
start_node 0 # the default configuration: no origin named
start_node 1 --cache-origins "$SIZER,$REDIR/"
start_node_metrics 2 --cache-origins "http://localhost:$http_port"
for i in 0 1 2; do
	wait_until 10 curl -s -o /dev/null "http://${NODE_ADDR[$i]}/archon/v1/" ||
		fail "node $i's shard cache is not up"
done

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
# ask NODE PATH ORIGIN [SIZE]: the node's answer, "CODE BODY" in $T/ans.
ask() {
	local q="origin=$(enc "$3")"
	[ -z "${4:-}" ] || q="$q&size=$4"
	curl -s -o "$T/ans" -w '%{http_code}' --max-time 60 \
		"http://${NODE_ADDR[$1]}/archon/v1/$2?$q" >"$T/code" || true
	code=$(cat "$T/code")
}
no_secret() { ! grep -q "$SECRET" "$T/ans" || fail "$1: the internal page came back"; }

# The internal page is reachable directly (the attack has a target).
[ "$(curl -s "$INTERNAL/deltas/$A-$B")" = "$SECRET" ] || fail "internal service not serving"

# 1. Default configuration: no fetching at all.
ask 0 "deltas/$A-$B" "$INTERNAL" "$S"
no_secret "default config, loopback origin"
[ "$code" = 403 ] || fail "default config: a request naming a loopback origin answered $code"
ok "with no --cache-origins the node fetches from nowhere (403, no body)"

# 2. Origins named, but not the internal one.
ask 1 "deltas/$A-$B" "$INTERNAL" "$S"
no_secret "origin not named"
[ "$code" = 403 ] || fail "an origin not named answered $code"
for o in "$SIZER.evil.example" "$SIZER@127.0.0.1:$http_port" "${SIZER%:*}:$http_port" \
	"https://127.0.0.1:$sizer_port"; do
	ask 1 "deltas/$A-$B" "$o" "$S"
	no_secret "look-alike origin $o"
	[ "$code" = 403 ] || fail "look-alike origin $o answered $code"
done
ok "origins other than the named ones (look-alikes too) are refused"

# Positive control: a named origin still fills the cache.
ask 1 "deltas/$A-$B" "$SIZER" 5
[ "$code" = 200 ] && [ "$(cat "$T/ans")" = hello ] ||
	fail "a named origin's delta did not come back ($code)"
ok "a named origin is fetched from"

# 3. A named origin that redirects to the internal service.
ask 1 "deltas/$A-$B" "$REDIR" "$S"
no_secret "redirect"
[ "$code" != 200 ] || fail "a redirect was followed"
ok "a named origin's redirect is not followed ($code)"

# 4. Too short and too long give the same answer.
ask 1 "indexes/$X" "$SIZER" 100
short="$code $(cat "$T/ans")"
ask 1 "indexes/$Y" "$SIZER" 100
long="$code $(cat "$T/ans")"
[ "$short" = "$long" ] || fail "a short and a long body answer differently: '$short' vs '$long'"
[ "${short%% *}" != 200 ] || fail "a body of the wrong size was served"
ok "a body too short and one too long answer the same (${short%% *})"

# 5. A named host name that resolves to loopback: the address is refused.
ask 2 "deltas/$A-$B" "http://localhost:$http_port" "$S"
no_secret "host name resolving to loopback"
[ "$code" != 200 ] || fail "a host name resolving to loopback was fetched from"
[ "$(metric 2 archon_cache_origin_address_refused_total)" -ge 1 ] ||
	fail "the refused address is not counted"
ok "a named host that resolves to an internal address is not connected to ($code)"
