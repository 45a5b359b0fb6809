#!/usr/bin/env bash
# bolter's hooks (order, state on stdin, namespaces), seccomp, terminal over
# --console-socket and through run's own stdio, and a user namespace with id
# mappings.
. "$(dirname "$0")/../bolter/lib.sh"

# --- hooks: all six, in the spec's order, each with the state on stdin ----
bundle h sh -c 'echo process >> /hooklog/log'
mkdir -p "$T/hl"
# The hook: "NAME STATUS ID" from the state on stdin, appended to LOG.
cat >"$T/hook.sh" <<'SH'
read -r s
st=$(echo "$s" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
id=$(echo "$s" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
echo "$1 $st $id" >> "$2"
SH
cp "$T/hook.sh" "$T/h/rootfs/hook.sh"
hook() { printf '{"path": "/bin/sh", "args": ["sh", "%s", "%s", "%s"]}' "$3" "$1" "$2"; }
edit h "s['mounts'].append({'destination': '/hooklog', 'type': 'bind', 'source': '$T/hl', 'options': ['bind']})
s['hooks'] = {
 'prestart': [$(hook prestart "$T/hl/log" "$T/hook.sh")],
 'createRuntime': [$(hook createRuntime "$T/hl/log" "$T/hook.sh")],
 'createContainer': [$(hook createContainer "$T/hl/log" "$T/hook.sh")],
 'startContainer': [$(hook startContainer /hooklog/log /hook.sh)],
 'poststart': [$(hook poststart "$T/hl/log" "$T/hook.sh")],
 'poststop': [$(hook poststop "$T/hl/log" "$T/hook.sh")]}"
run_in h
got=$(tr '\n' ' ' <"$T/hl/log")
# The process and poststart run concurrently; everything else is ordered.
want1="prestart creating h createRuntime creating h createContainer creating h startContainer creating h process poststart running h poststop stopped h "
want2="prestart creating h createRuntime creating h createContainer creating h startContainer creating h poststart running h process poststop stopped h "
[ "$got" = "$want1" ] || [ "$got" = "$want2" ] || fail "hook order: $got"
ok "hooks run in order with the state on stdin"

bundle hf true
edit hf 's["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}'
if run_in hf 2>"$T/hf.err"; then fail "a failing createRuntime hook did not fail create"; fi
grep -q "hooks.createRuntime\[0\]" "$T/hf.err" || fail "hook error: $(cat "$T/hf.err")"
ok "a failing hook fails create, naming it"

# A hook that cannot be executed: the error (not a stray line from the
# child) says so.  bolter's stderr holds exactly one "bolter:" line.
bundle hx true
edit hx 's["hooks"] = {"createRuntime": [{"path": "/nonexistent/hook"}]}'
if run_in hx 2>"$T/hx.err"; then fail "a missing hook did not fail create"; fi
grep -q "hooks.createRuntime\[0\]: exec /nonexistent/hook: No such file" "$T/hx.err" ||
	fail "missing hook: $(cat "$T/hx.err")"
[ "$(grep -c '^bolter:' "$T/hx.err")" = 1 ] || fail "missing hook, stderr: $(cat "$T/hx.err")"
ok "a hook that cannot be executed fails create, saying why"

# A failing poststart or poststop hook is a warning (config.md), which the
# library hands to the CLI and the CLI prints; the container still runs.
bundle hw sh -c 'echo ran'
edit hw 's["hooks"] = {"poststart": [{"path": "/bin/false"}], "poststop": [{"path": "/bin/false"}]}'
out=$(run_in hw 2>"$T/hw.err") || fail "a failing poststart hook failed run: $(cat "$T/hw.err")"
[ "$out" = ran ] || fail "poststart warning run: output '$out'"
grep -q "^bolter: warning: hooks.poststart\[0\]" "$T/hw.err" || fail "poststart warning: $(cat "$T/hw.err")"
grep -q "^bolter: warning: hooks.poststop\[0\]" "$T/hw.err" || fail "poststop warning: $(cat "$T/hw.err")"
ok "failing poststart and poststop hooks are warnings on stderr"

# start and delete parse the saved config.json only for the hook kinds the
# state records; a state file without that record (written before it
# existed) still gets its poststop hooks run.
bundle hs true
edit hs "s['hooks'] = {'poststop': [$(hook poststop "$T/hs.log" "$T/hook.sh")]}"
(cd "$T/hs" && "${BO[@]}" create hs) || fail "create hs"
grep -q '"hooks":32' "$ROOT/hs/state.json" || fail "state hook kinds: $(cat "$ROOT/hs/state.json")"
python3 - "$ROOT/hs/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); del s["hooks"]; json.dump(s, open(sys.argv[1], "w"))
PY
"${BO[@]}" delete -f hs || fail "delete hs"
expect_eq "poststop runs from a state file without the hook record" "$(cat "$T/hs.log" 2>/dev/null)" "poststop stopped hs"

# --- seccomp: errno for mkdir, an argument filter on chmod ------------------
bundle sc sh -c 'mkdir /tmp/d 2>&1; touch /tmp/f; chmod 600 /tmp/f && echo chmod600-ok; chmod 777 /tmp/f 2>&1 || true'
edit sc 's["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": [
 {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
 {"names": ["chmod", "fchmod"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]},
 {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}]}]}'
out=$(run_in sc | tr '\n' ' ')
case $out in
*"mkdir: can't create directory '/tmp/d': Operation not permitted"*"chmod600-ok"*"Operation not permitted"*) ok "seccomp: errnoRet and argument filters" ;;
*) fail "seccomp: $out" ;;
esac
edit sc 's["linux"]["seccomp"]["defaultAction"] = "SCMP_ACT_WHATEVER"'
if run_in sc 2>"$T/sc.err"; then fail "bad seccomp action accepted"; fi
grep -q "linux.seccomp.defaultAction" "$T/sc.err" || fail "seccomp error: $(cat "$T/sc.err")"
ok "a bad seccomp action is named"

# --- terminal over --console-socket -------------------------------------------
bundle tty sh -c 'tty; echo hello-tty'
edit tty 's["process"]["terminal"] = True'
python3 "$HERE/console.py" "$T/console.sock" "$T/tty.out" &
cpid=$!
for _ in $(seq 50); do [ -S "$T/console.sock" ] && break; sleep 0.1; done
(cd "$T/tty" && "${BO[@]}" run --console-socket "$T/console.sock" tty)
wait "$cpid"
out=$(tr -d '\r' <"$T/tty.out" | tr '\n' ' ')
expect_eq "terminal via --console-socket" "$out" "/dev/pts/0 hello-tty "

# --- terminal without a console socket: run copies it to its own stdio -------
bundle tty2 sh
edit tty2 's["process"]["terminal"] = True'
set +e
out=$(cd "$T/tty2" && printf 'echo hi-$((6*7)); tty; exit 3\n' | timeout 20 "${BO[@]}" run tty2 | tr -d '\r')
rc=$?
set -e
expect_eq "run with a terminal and no console socket: exit status" "$rc" 3
grep -q "^hi-42$" <<<"$out" && grep -q "^/dev/pts/0$" <<<"$out" ||
	fail "run with a terminal and no console socket: $out"
ok "run with a terminal and no console socket: stdin in, output out, through the container's pty"

# --- user namespace with mappings ---------------------------------------------
if [ -e /proc/self/ns/user ]; then
	bundle un sh -c 'cat /proc/self/uid_map | tr -s " "; id -u'
	edit un 's["linux"]["namespaces"].append({"type": "user"}); s["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]; s["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
	out=$(run_in un | tr '\n' ' ')
	expect_eq "user namespace" "$out" " 0 100000 65536 0 "
else
	echo "no user namespaces in this kernel: user namespace case skipped"
fi
