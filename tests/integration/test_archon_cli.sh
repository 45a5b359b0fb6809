#!/usr/bin/env bash
# archon's command line (docs/cli-conventions.md): --version, --help and -h
# of every subcommand on stdout with exit 0, usage errors on stderr with
# exit 2 and "Try 'archon --help'.", runtime failures exit 1.  The machine
# interface Bolter uses: `archon config` (raw OCI config, or nothing and
# exit 3) and `show --json`.  import refuses to replace a tag without
# --force.  A running `archon serve` holds the store only per request:
# readers and writers run beside it, and while a writer has the store it
# answers 503; a writer held elsewhere gets a clear "busy" error naming the
# holder.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"
OCI="python3 $(dirname "$0")/archon_oci.py"
S=$T/store
ar() { "$ARCHON" --store "$S" "$@"; }

# run WANT_RC CMD...: stdout in $out, stderr in $err, the status checked.
run() {
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	out=$(cat "$T/out") err=$(cat "$T/err")
	[ "$rc" = "$want" ] || fail "$* exited $rc, want $want; stdout: $out; stderr: $err"
}

run 0 "$ARCHON" --version
[[ "$out" =~ ^archon\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "--version: $out"
grep -qi unknown <<<"$out" && fail "--version: $out"
version=$out
[ -z "$err" ] || fail "--version wrote to stderr: $err"
run 0 "$ARCHON" -V
run 0 "$ARCHON" --help
grep -q "^usage: archon" <<<"$out" || fail "--help: $out"
for c in import publish pull serve checkout diff ls show config du gc verify; do
	for h in --help -h; do
		run 0 "$ARCHON" "$c" "$h"
		grep -q "^usage: archon $c" <<<"$out" || fail "archon $c $h: $out"
		[ -z "$err" ] || fail "archon $c $h wrote to stderr: $err"
	done
done
ok "--version ($version) and --help/-h of every subcommand on stdout, exit 0"

usage_error() {
	run 2 "$@"
	[ -z "$out" ] || fail "$*: a usage error wrote to stdout: $out"
	grep -q "^Try 'archon --help'.$" <<<"$err" || fail "$*: no hint: $err"
	grep -q "^archon: " <<<"$err" || fail "$*: no program name: $err"
}
usage_error "$ARCHON"
usage_error "$ARCHON" frobnicate
usage_error "$ARCHON" --frobnicate
usage_error ar ls extra
usage_error ar show
usage_error ar show --bogus x:1
usage_error ar import onlyone
usage_error ar checkout a:1
usage_error ar publish a:1
usage_error ar pull file:///x a:1 --insecure --bogus
usage_error ar gc --keep 0
usage_error ar serve
[ ! -e "$S" ] || fail "a usage error created the store"
ok "usage errors exit 2 with the hint, touching nothing"

run 1 ar show nosuch:1
grep -q "^archon show: " <<<"$err" || fail "runtime failure: $err"
run 1 ar checkout nosuch:1 "$T/co"
ok "runtime failures exit 1: $err"

# import: a tag is not replaced silently.
mkdir -p "$T/a" "$T/b"; echo a >"$T/a/f"; echo b >"$T/b/f"
run 0 ar import "$T/a" app:1
run 1 ar import "$T/b" app:1
grep -q "already exists" <<<"$err" && grep -q -- "--force" <<<"$err" || fail "import over a tag: $err"
ar checkout app:1 "$T/co1"; [ "$(cat "$T/co1/f")" = a ] || fail "the refused import replaced app:1"
run 0 ar import "$T/b" app:1 --force
grep -q "replacing" <<<"$out" || fail "import --force does not say it replaced: $out"
ar checkout app:1 "$T/co2"; [ "$(cat "$T/co2/f")" = b ] || fail "import --force did not replace app:1"
ok "import refuses to replace a tag without --force; --force replaces it and says so"

# The machine interface: a folder has no config, an OCI image has one.
$OCI tar "$T/l1.tar" d:bin f:bin/sh:shell
$OCI layout "$T/img" "$T/l1.tar"
ar import "oci:$T/img:latest" img:1 >/dev/null
run 3 ar config app:1
[ -z "$out" ] || fail "config of a folder import printed: $out"
run 0 ar config img:1
python3 -c 'import json,sys; c=json.loads(sys.argv[1]); assert c["config"]["Cmd"]==["/bin/app"], c' "$out" ||
	fail "config is not the image's JSON: $out"
run 1 ar config nosuch:1
run 0 ar show --json app:1
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["name"]=="app:1" and o["config"] is None and o["files"]==1, o' "$out" ||
	fail "show --json of a folder import: $out"
run 0 ar show --json img:1
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["config"]["config"]["Cmd"]==["/bin/app"], o
assert 0 < o["disk_alone"] <= o["disk_total"], o' "$out" ||
	fail "show --json of an image: $out"
ok "archon config: the raw OCI config, or nothing and exit 3; show --json parses"

# A running server holds the store (shared) only while it answers a
# request: readers and writers go on beside it.  While a writer has the
# store the server answers 503 (a peer then asks its next source), and
# serves again when the writer is done.
port=$(free_port)
"$ARCHON" --store "$S" serve --listen "127.0.0.1:$port" >"$T/serve.log" 2>&1 &
spid=$!
PIDS+=("$spid")
wait_until 10 grep -q "^serving" "$T/serve.log" || fail "serve did not start: $(cat "$T/serve.log")"
run 0 ar ls
grep -q "^img:1 " <<<"$out" || fail "ls beside serve: $out"
run 0 ar show img:1
run 0 ar show --json img:1
index=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["index"])' "$out")
run 0 ar config img:1
run 0 ar checkout img:1 "$T/co-serve"
[ "$(cat "$T/co-serve/bin/sh")" = shell ] || fail "checkout beside serve"
run 0 ar verify
run 0 ar import "$T/a" app:2
run 0 ar gc
run 0 ar rm app:2
status() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/indexes/$index"; }
[ "$(status)" = 200 ] || fail "serve does not answer for img:1's index: $(status)"
# hold_store: another process takes the store's lock as a writer would;
# its pid in $holder.
hold_store() {
	python3 -c 'import fcntl, sys, time
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)' "$S/lock" >"$T/holder.log" &
	holder=$!
	PIDS+=("$holder")
	wait_until 10 grep -q locked "$T/holder.log" || fail "the lock holder did not start"
}
hold_store
wpid=$holder
[ "$(status)" = 503 ] || fail "serve answered $(status) while a writer had the store"
kill "$wpid"; wait "$wpid" 2>/dev/null || true
[ "$(status)" = 200 ] || fail "serve answered $(status) after the writer was done"
kill -TERM "$spid"; wait "$spid" 2>/dev/null || true
grep -q "(1 while the store was being written)" "$T/serve.log" || fail "serve's count: $(cat "$T/serve.log")"
ok "with archon serve running, ls/show/config/checkout/verify and import/gc/rm work; a request during a write gets 503"

# A writer holding the store: readers are told too.
rm -f "$T/holder.log"
hold_store
fpid=$holder
run 1 ar ls
grep -q "is busy: being written by pid $fpid" <<<"$err" || fail "reader beside a writer: $err"
kill "$fpid"; wait "$fpid" 2>/dev/null || true
ok "a reader beside a writer: $err"
