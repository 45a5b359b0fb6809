# shellcheck shell=bash disable=SC2034 # NODE_PID, AGENT_PID are for the tests that source this
# Shared helpers for the integration tests: a temporary directory, process
# bookkeeping with cleanup, free ports, waiting, and a ring on loopback.
# Sourced by tests/integration/test_*.sh; the binaries come from the
# environment ctest sets (CARRIER_NODE, CARRIER_AGENT, CARRIER, DEVSIM).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/deps.sh" # free_port, wait_until

: "${CARRIER_NODE:?run through ctest}" "${CARRIER_AGENT:?}" "${CARRIER:?}"
T=$(mktemp -d /tmp/korhal-it.XXXXXX)
PIDS=()
export CARRIER_CONFIG_DIR=$T/vendor-config
# The test's own HOME: nothing a test runs (pins, default keys, podman's
# storage) may write into the user's.
export HOME=$T/home XDG_CONFIG_HOME=$T/home/.config XDG_DATA_HOME=$T/home/.local/share \
	XDG_CACHE_HOME=$T/home/.cache
mkdir -p "$HOME" && chmod 0700 "$HOME"

cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	if [ "$rc" -ne 0 ] || [ -n "${KORHAL_KEEP:-}" ]; then
		echo "--- logs (kept in $T) ---"
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "=== $f"; tail -n 30 "$f"
		done
	fi
	[ -n "${KORHAL_KEEP:-}" ] || [ "$rc" -ne 0 ] || rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

# Under AddressSanitizer the programs run several times slower: tests make
# their transfers and repetitions smaller there (same assertions), which
# keeps the test command's ASan leg inside its time.
KORHAL_ASAN=0
if grep -q __asan_init "$CARRIER_NODE" 2>/dev/null; then KORHAL_ASAN=1; fi
# BIG_MB: the size of a test's big download, in MB.
if [ "$KORHAL_ASAN" = 1 ]; then BIG_MB=25; else BIG_MB=100; fi

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }



# make_ring N: operator key, N node keys on free ports, the signed ring.
# Sets NODE_ADDR[i], NODE_KEY[i].
make_ring() {
	local n=$1 args=()
	"$CARRIER" keygen --type operator -o "$T/op.key" >/dev/null
	for i in $(seq 0 $((n - 1))); do
		NODE_KEY[$i]=$T/node$i.key
		NODE_ADDR[$i]=127.0.0.1:$(free_port)
		"$CARRIER" keygen --type node -o "${NODE_KEY[$i]}" >/dev/null
		args+=(--node "${NODE_KEY[$i]}.pub@${NODE_ADDR[$i]}")
	done
	"$CARRIER" ring init --operator "$T/op.key" "${args[@]}" -o "$T/ring" >/dev/null
	export CARRIER_RING=$T/ring
}

# start_node I [EXTRA FLAGS...]: sets NODE_PID[I].
start_node() {
	local i=$1; shift
	"$CARRIER_NODE" --key "${NODE_KEY[$i]}" --ring "$T/ring" \
		--listen "${NODE_ADDR[$i]}" --data "$T/node$i.d" "$@" \
		>>"$T/node$i.log" 2>&1 &
	NODE_PID[$i]=$!
	PIDS+=("$!")
}

# start_node_metrics I [EXTRA FLAGS...]: start_node with a Prometheus
# endpoint on a free port, kept in METRICS[I] (for metric and sum_metric).
start_node_metrics() {
	local i=$1; shift
	METRICS[$i]=127.0.0.1:$(free_port)
	start_node "$i" --metrics "${METRICS[$i]}" "$@"
}

# add_node I: a key for node I on a free port, added to $T/ring by the
# operator (`carrier ring add-node`: the next epoch).  Sets NODE_KEY[I],
# NODE_ADDR[I]; start it with start_node or start_node_metrics.
add_node() {
	local i=$1
	NODE_KEY[$i]=$T/node$i.key
	NODE_ADDR[$i]=127.0.0.1:$(free_port)
	"$CARRIER" keygen --type node -o "${NODE_KEY[$i]}" >/dev/null
	"$CARRIER" ring add-node --operator "$T/op.key" --ring "$T/ring" \
		"${NODE_KEY[$i]}.pub@${NODE_ADDR[$i]}" >/dev/null
}

# start_www: the device's HTTP server, python's http.server for $T/www
# (the caller fills it) on a free loopback port, kept in http_port; returns
# once it answers.
start_www() {
	http_port=$(free_port)
	python3 -m http.server "$http_port" --bind 127.0.0.1 --directory "$T/www" \
		>"$T/http.log" 2>&1 &
	PIDS+=("$!")
	wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$http_port/" ||
		fail "the HTTP server did not start"
}

# vendor NAME: a vendor key; prints its identity.
vendor() {
	"$CARRIER" keygen --type vendor -o "$T/$1.key"
}

# device NAME: a device key; prints its identity.
device() {
	"$CARRIER" keygen --type device -o "$T/$1.key"
}

# start_agent NAME [FLAGS...]: the device key $T/NAME.key; sets AGENT_PID.
start_agent() {
	local name=$1; shift
	"$CARRIER_AGENT" --key "$T/$name.key" --ring "$T/ring" \
		--data "$T/$name.d" "$@" >>"$T/$name.log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$!")
}

# online ID: the device is attached (lookup --json says online).
online() {
	"$CARRIER" lookup "$1" --json 2>/dev/null | grep -q '"online":true'
}

# metric I NAME: node I's metric NAME (from its --metrics at METRICS[I]).
metric() { curl -sf "http://${METRICS[$1]}/metrics" | sed -n "s/^$2 //p"; }
# sum_metric NAME NODE...: the sum over those nodes (a silent node counts 0).
sum_metric() {
	local name=$1 s=0 v; shift
	for i in "$@"; do v=$(metric "$i" "$name") || v=0; s=$((s + ${v:-0})); done
	echo "$s"
}

json_field() { # json_field JSON FIELD: a numeric field
	sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"
}

# make_test_ca SAN: a private CA ($T/ca.pem, $T/ca.key) and a server
# certificate it signed ($T/srv.pem, $T/srv.key) for SAN, a subjectAltName
# value such as IP:127.0.0.1.
make_test_ca() {
	local ossl_log=$T/openssl.log
	ossl() { openssl "$@" >>"$ossl_log" 2>&1 || fail "openssl $1: $(tail -3 "$ossl_log")"; }
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$T/ca.key" -out "$T/ca.pem" -subj "/CN=korhal test CA"
	ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/srv.key" -out "$T/srv.csr" -subj "/CN=korhal test server"
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		"$1" >"$T/srv.ext"
	ossl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
		-days 2 -extfile "$T/srv.ext" -out "$T/srv.pem"
}

# start_origin ROOT [https]: Debian's nginx serving ROOT on a free loopback
# port, logging "URI STATUS BYTES" per request to $ORIGIN_LOG; sets
# ORIGIN_URL.  With "https" it also serves ROOT over TLS (make_test_ca's
# $T/srv.pem) on another port of 127.0.0.1 and 127.0.0.2, and sets
# ORIGIN_TLS_PORT.
# origin_served: bytes of bodies served since the log was last emptied.
start_origin() {
	local port tls=""
	port=$(free_port)
	ORIGIN_LOG=$T/access.log
	if [ "${2:-}" = https ]; then
		ORIGIN_TLS_PORT=$(free_port)
		tls="server {
		listen 127.0.0.1:$ORIGIN_TLS_PORT ssl;
		listen 127.0.0.2:$ORIGIN_TLS_PORT ssl;
		ssl_certificate $T/srv.pem;
		ssl_certificate_key $T/srv.key;
		root $1;
	}"
	fi
	cat >"$T/nginx.conf" <<CONF
daemon off;
user root;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log;
events { worker_connections 512; }
http {
	log_format bytes '\$request_uri \$status \$body_bytes_sent';
	access_log $ORIGIN_LOG bytes;
	server {
		listen 127.0.0.1:$port;
		root $1;
	}
	$tls
}
CONF
	nginx -c "$T/nginx.conf" >"$T/nginx.log" 2>&1 &
	PIDS+=("$!")
	ORIGIN_URL=http://127.0.0.1:$port
	wait_until 10 curl -s -o /dev/null "$ORIGIN_URL/" || fail "nginx did not start"
	# nginx logs a request after answering it: wait for the probe's line.
	wait_until 5 grep -q . "$ORIGIN_LOG" || true
	: >"$ORIGIN_LOG"
}
origin_served() { awk '{s+=$3} END {print s+0}' "$ORIGIN_LOG"; }

# start_liar PORT BYTES: an HTTP/1.1 server on 127.0.0.1:PORT that answers
# every GET with BYTES random bytes and status 200 (a lying cache node or
# peer); waits until it answers.
start_liar() {
	python3 - "$1" "$2" >>"$T/liar.log" 2>&1 <<'PY' &
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = os.urandom(int(sys.argv[2]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
	PIDS+=("$!")
	wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$1/" || fail "liar on port $1 not up"
}
