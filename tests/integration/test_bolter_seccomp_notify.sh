#!/usr/bin/env bash
# linux.seccomp.listenerPath and SCMP_ACT_NOTIFY (config-linux.md): create
# hands the seccomp notify fd, with the container process state, to the
# listener's unix socket; the listener answers the container's notified
# syscalls.
. "$(dirname "$0")/../bolter/lib.sh"

LISTENER=$HERE/seccomp_listener.py
bundle n sh -c 'mkdir /tmp/d; echo "rc=$?"; touch /tmp/f && echo touched'
edit n "s['linux']['seccomp'] = {'defaultAction': 'SCMP_ACT_ALLOW',
 'listenerPath': '$T/listener.sock', 'listenerMetadata': 'meta-42',
 'syscalls': [{'names': ['mkdir', 'mkdirat'], 'action': 'SCMP_ACT_NOTIFY'}]}"
# ENOSPC (28): an answer no kernel path would give to mkdir in /tmp.
python3 "$LISTENER" "$T/listener.sock" "$T/got.json" 28 &
LPID=$!
wait_sock() {
	for _ in $(seq 1 200); do [ -S "$1" ] && return 0; sleep 0.05; done
	return 1
}
wait_sock "$T/listener.sock" || { kill "$LPID"; fail "the listener did not start"; }
out=$(run_in n 2>&1) || { kill "$LPID"; fail "run: $out"; }
wait "$LPID" || fail "the listener failed"
case "$out" in
*"No space left on device"*"rc=1"*touched*) ok "the listener answered the container's mkdir" ;;
*) fail "container output: $out" ;;
esac
python3 - "$T/got.json" <<'PY' || fail "state sent to the listener: $(cat "$T/got.json")"
import json, sys
g = json.load(open(sys.argv[1]))
s = g["state"]
assert g["nfds"] == 1, g
assert g["notified"], g
assert s["ociVersion"], s
assert s["fds"] == ["seccompFd"], s
assert s["metadata"] == "meta-42", s
assert isinstance(s["pid"], int) and s["pid"] > 0, s
st = s["state"]
assert st["id"] == "n", st
assert st["pid"] == s["pid"], st
assert st["status"] in ("creating", "created"), st
assert st["bundle"], st
PY
ok "the listener got ociVersion, fds, pid, metadata and the state with one fd"

# SCMP_ACT_NOTIFY without a listener has nowhere to send the fd.
bundle nl true
edit nl "s['linux']['seccomp'] = {'defaultAction': 'SCMP_ACT_ALLOW',
 'syscalls': [{'names': ['mkdir'], 'action': 'SCMP_ACT_NOTIFY'}]}"
if run_in nl 2>"$T/nl.err"; then fail "SCMP_ACT_NOTIFY without listenerPath accepted"; fi
grep -q "linux.seccomp.listenerPath" "$T/nl.err" || fail "no listener: $(cat "$T/nl.err")"
ok "SCMP_ACT_NOTIFY without listenerPath is refused, naming the field"

# Nobody listening: create fails, naming the socket, and leaves nothing.
edit nl "s['linux']['seccomp']['listenerPath'] = '$T/nobody.sock'"
if run_in nl 2>"$T/nb.err"; then fail "create succeeded with nobody listening"; fi
grep -q "nobody.sock" "$T/nb.err" || fail "nobody listening: $(cat "$T/nb.err")"
[ -z "$("${BO[@]}" list -q)" ] || fail "a failed create left: $("${BO[@]}" list -q)"
ok "create fails when nobody listens on listenerPath"
