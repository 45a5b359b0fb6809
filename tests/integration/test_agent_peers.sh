#!/usr/bin/env bash
# Devices serve each other through their agents (docs/agent-apps.md,
# "Serving the fleet"): device A's agent runs with --trust and --serve-port
# and serves its apps' store itself (no `archon serve`), announcing what it
# holds to the ring; device B's agent runs with a fleet credential for its
# own device key (no vendor key anywhere on B) and installs the same signed
# release, whose bytes come from A: the origin (nginx, whose log counts
# the requests) serves only the manifest.  A's agent starts its serve
# worker again when it is killed, and stops it when the agent stops.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apps_lib.sh"

A=$T/a.d
B=$T/b.d
declare -A DEV_PID=()
peers_cleanup() {
	local rc=$? d id
	set +e
	# The agents first, as a power cut would (the apps stay; deleted below).
	for p in "${DEV_PID[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for d in "$A" "$B"; do
		[ -d "$d/bolter" ] || continue
		for id in $("$BOLTER" --root "$d/bolter" list -q 2>/dev/null); do
			"$BOLTER" --root "$d/bolter" delete --force "$id" >/dev/null 2>&1 || true
		done
	done
	{ findmnt -rn -o TARGET 2>/dev/null | grep "^$T/" | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done; } || true
	find /sys/fs/cgroup -maxdepth 8 -depth -type d -path "*$APPS_CG*" \
		-exec rmdir {} + 2>/dev/null || true
	(exit "$rc")
	cleanup
}
trap peers_cleanup EXIT

make_versions 1
start_origin "$T/origin"
make_trust # its rollout key is root.key: it signs the fleet credential
make_ring 1
start_node 0
a_id=$(device a)
b_id=$(device b)
"$CARRIER" fleet credential "$b_id" --trust "$T/trust" --key "$T/root.key" \
	-o "$T/b.cred" >/dev/null || fail "fleet credential for B"
sport=$(free_port)

# The credential is checked at the start (--check runs the same checks):
# it must be this device's, signed under --trust, which it needs.
check() { "$CARRIER_AGENT" --check --ring "$T/ring" --data "$T/chk.d" "$@" 2>&1; }
check --key "$T/b.key" --trust "$T/trust" --credential "$T/b.cred" >/dev/null ||
	fail "--check refuses B's own credential: $(check --key "$T/b.key" --trust "$T/trust" --credential "$T/b.cred")"
out=$(check --key "$T/a.key" --trust "$T/trust" --credential "$T/b.cred") && fail "A took B's credential"
grep -q "is the fleet credential of $b_id, not of this device $a_id" <<<"$out" || fail "A with B's credential: $out"
out=$(check --key "$T/b.key" --credential "$T/b.cred") && fail "--credential without --trust accepted"
grep -q "credential needs --trust" <<<"$out" || fail "--credential without --trust: $out"
ok "--check: a device takes only its own fleet credential, and only with --trust"

# start_dev NAME FLAGS...: a device agent with --trust (its pid in
# DEV_PID[NAME]).
start_dev() {
	local name=$1
	shift
	"$CARRIER_AGENT" --key "$T/$name.key" --ring "$T/ring" --data "$T/$name.d" \
		--trust "$T/trust" --apps-cgroup "$APPS_CG-$name" --keepalive 1s "$@" \
		>>"$T/$name.log" 2>&1 &
	DEV_PID[$name]=$!
	PIDS+=("$!")
	wait_until 20 test -S "$T/$name.d/control.sock" ||
		fail "$name: the control socket did not appear"
	wait_until 20 grep -q "attached to node" "$T/$name.log" || fail "$name did not attach"
}
start_dev a --serve-port "$sport"
start_dev b --credential "$T/b.cred" --carrier "$CARRIER"

# serve_pid: the pid of A's serve worker the log names last.
serve_pid() { sed -n 's/.*serve: worker pid \([0-9]*\) serves.*/\1/p' "$T/a.log" | tail -n 1; }
wait_until 10 sh -c "grep -q 'serve: serving .* on 127.0.0.1:$sport (announced to the ring)' '$T/a.log'" ||
	fail "A's agent does not serve on $sport: $(tail -n 5 "$T/a.log")"
pid=$(serve_pid)
[ -n "$pid" ] && kill -0 "$pid" || fail "no serve worker running"
grep -q "^PPid:[[:space:]]*${DEV_PID[a]}\$" "/proc/$pid/status" ||
	fail "the serve worker $pid is not the agent's child"

# The app: no port of its own (both devices run it on this host's
# network), healthy while it lives.
"$CARRIER" release web:1 --image "$ORIGIN_URL" web:1 --counter 1 --arch "$ARCH" \
	--key "$T/rel1.key" -o "$T/r1" -- sleep 1000000 >/dev/null
"$CARRIER" release sign "$T/r1" --key "$T/rel2.key" >/dev/null

# ---- A installs v1 from the origin and announces it.
"$CARRIER_AGENT" --data "$A" install "$T/r1" --health-window 2s >"$T/out" 2>"$T/err" ||
	fail "A: install: $(cat "$T/err")"
grep -q "^web 1 committed$" "$T/out" || fail "A: install said $(cat "$T/out")"
a_from_origin=$(wc -l <"$ORIGIN_LOG")
[ "$a_from_origin" -gt 2 ] || fail "A's pull fetched only $a_from_origin objects from the origin"
idx=$("$ARCHON" --store "$T/pub" show web:1 | grep -o '[0-9a-f]\{64\}' | head -1)
wait_until 10 sh -c "curl -sf http://${NODE_ADDR[0]}/archon/v1/providers/$idx | grep -q ." ||
	fail "A's version was not announced to the ring"
rec1=$(curl -sf "http://${NODE_ADDR[0]}/archon/v1/providers/$idx")
[ "$(wc -l <<<"$rec1")" = 1 ] || fail "provider records: $rec1"
curl -sf -o "$T/index" "http://127.0.0.1:$sport/indexes/$idx" || fail "A does not serve the index"
[ "$(b2sum -l 256 "$T/index" | cut -d' ' -f1)" = "$idx" ] || fail "A served another index"
ok "A's agent serves its apps' store on $sport and announced web:1 ($a_from_origin objects from the origin)"

# ---- B installs the same release: everything but the manifest from A.
: >"$ORIGIN_LOG"
"$CARRIER_AGENT" --data "$B" install "$T/r1" --health-window 2s >"$T/out" 2>"$T/err" ||
	fail "B: install: $(cat "$T/err")"
grep -q "^web 1 committed$" "$T/out" || fail "B: install said $(cat "$T/out")"
sleep 0.5 # nginx logs a request after answering it
echo "B's requests to the origin:"
cat "$ORIGIN_LOG"
[ "$(grep -cv '^/refs/web/1 ' "$ORIGIN_LOG")" = 0 ] ||
	fail "B fetched from the origin more than the manifest: $(cat "$ORIGIN_LOG")"
[ "$(wc -l <"$ORIGIN_LOG")" = 1 ] || fail "B fetched the manifest $(wc -l <"$ORIGIN_LOG") times"
grep -q "^1 peers hold this version, 1 reachable" "$T/b.log" ||
	fail "B reached no peer: $(grep -i peer "$T/b.log" || true)"
sources=$(grep "^sources:" "$T/b.log" | tail -n 1)
echo "B's pull: $sources"
peer=$(sed -n 's/^sources: \([0-9]*\) bytes from peers.*/\1/p' <<<"$sources")
[ "${peer:-0}" -gt 1000000 ] || fail "only ${peer:-0} bytes came from A"
"$ARCHON" --store "$B/archon" verify >/dev/null || fail "B's store does not verify"
[ "$(cat "$B/apps/web/versions/1/lower/www/index.html")" = "web v1" ] || fail "B's checkout of web 1"
grep -q "connected" "$T/a.log" || fail "A's log shows no peer session"
ok "B installed the release with its device key and fleet credential; from the origin only the manifest, ${peer} bytes from A"

# ---- A's serve worker is killed: the agent starts it again, and it
# announces again (a newer expiry in A's record).
sleep 1.1
kill -KILL "$pid"
wait_until 10 grep -q "serve: worker pid $pid was killed by signal 9" "$T/a.log" ||
	fail "A's agent did not see its serve worker die"
wait_until 10 sh -c "[ \"\$(sed -n 's/.*serve: worker pid \([0-9]*\) serves.*/\1/p' '$T/a.log' | tail -n 1)\" != $pid ]" ||
	fail "A's agent did not start a new serve worker"
pid2=$(serve_pid)
grep -q "restarting in 1 s" "$T/a.log" || fail "no backoff said: $(grep 'serve:' "$T/a.log")"
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$sport/indexes/$idx" ||
	fail "the new serve worker does not answer"
exp() { awk '{print $5}' <<<"$1"; }
wait_until 10 sh -c "[ \"\$(curl -sf http://${NODE_ADDR[0]}/archon/v1/providers/$idx | awk '{print \$5}')\" -gt $(exp "$rec1") ]" ||
	fail "the new worker did not announce again"
ok "A's serve worker, killed, is started again after 1 s (pid $pid -> $pid2) and announces again"

# ---- The agent's stop stops its worker.
kill -TERM "${DEV_PID[a]}"
wait "${DEV_PID[a]}" 2>/dev/null || true
! kill -0 "$pid2" 2>/dev/null || fail "the serve worker outlived its agent"
grep -q "serve: served [0-9]* bytes" "$T/a.log" || fail "the worker's last line is not in A's log"
ok "A's agent stops its serve worker with it ($(grep -o 'serve: served [0-9]* bytes in [0-9]* requests' "$T/a.log" | tail -n 1))"
