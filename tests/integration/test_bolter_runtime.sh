#!/usr/bin/env bash
# bolter as an OCI runtime on a busybox bundle: the runc life cycle, exit
# codes, env, user, mounts, read-only root, capabilities, rlimits, hostname,
# sysctl, oomScoreAdj, exec, ps, list, features, joining a namespace by path.
. "$(dirname "$0")/../bolter/lib.sh"

# --- exit codes, env, cwd, hostname ---------------------------------------
bundle a sh -c 'echo "$FOO:$(pwd):$(hostname)"; exit 7'
edit a 's["process"]["env"].append("FOO=bar"); s["process"]["cwd"] = "/tmp"; s["hostname"] = "boxy"'
set +e
out=$(run_in a)
rc=$?
set -e
expect_eq "exit code" "$rc" 7
expect_eq "env, cwd, hostname" "$out" "bar:/tmp:boxy"
[ -z "$("${BO[@]}" list -q)" ] || fail "run left the container behind"
ok "run deletes the container"

# --- user, groups, umask, read-only root -----------------------------------
bundle u sh -c 'id -u; id -g; id -G; umask; touch /x 2>&1 || echo ro-root; touch /tmp/y && echo tmp-rw'
edit u 's["process"]["user"] = {"uid": 65534, "gid": 65534, "additionalGids": [5, 6], "umask": 63}; s["root"]["readonly"] = True; s["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=1777"]})'
out=$(run_in u | tr '\n' ' ')
case $out in
"65534 65534 65534 5 6 0077 "*"Read-only file system ro-root tmp-rw ") ok "user, groups, umask, read-only root" ;;
*) fail "user/readonly: $out" ;;
esac

# --- bind mounts (rw and ro), masked and read-only paths ------------------
mkdir -p "$T/host"
echo from-host >"$T/host/f"
bundle m sh -c 'cat /data/f; echo new > /data/g && echo rw-ok; echo x > /ro/h 2>/dev/null || echo ro-ok; cat /proc/keys | wc -c; echo x > /proc/sys/kernel/domainname 2>/dev/null || echo sys-ro'
edit m "s['mounts'] += [{'destination': '/data', 'type': 'bind', 'source': '$T/host', 'options': ['rbind', 'rw']}, {'destination': '/ro', 'type': 'bind', 'source': '$T/host', 'options': ['rbind', 'ro']}]"
out=$(run_in m | tr '\n' ' ')
expect_eq "bind mounts, masked and read-only paths" "$out" "from-host rw-ok ro-ok 0 sys-ro "
[ "$(cat "$T/host/g")" = new ] || fail "write through the bind mount did not reach the host"

# --- capabilities, rlimits, sysctl, oomScoreAdj, no_new_privs ---------------
bundle c sh -c 'grep -E "^Cap(Eff|Bnd)|^NoNewPrivs" /proc/self/status | tr "\t" " "; ulimit -n; cat /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj'
edit c 's["process"]["capabilities"] = {"bounding": ["CAP_KILL", "CAP_NET_ADMIN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}; s["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 322}]; s["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}; s["process"]["oomScoreAdj"] = 123'
out=$(run_in c | tr '\n' ' ')
expect_eq "capabilities, rlimits, sysctl, oomScoreAdj, no_new_privs" "$out" \
	"CapEff: 0000000000000020 CapBnd: 0000000000001020 NoNewPrivs: 1 321 1 123 "

# --- create / start / state / kill / delete, signals ------------------------
bundle k sh -c 'trap "echo got-term > /tmp/sig; exit 42" TERM; echo ready > /tmp/ready; while :; do sleep 0.1; done'
edit k "s['mounts'].append({'destination': '/tmp', 'type': 'bind', 'source': '$T/k', 'options': ['bind']})"
(cd "$T/k" && "${BO[@]}" create --pid-file "$T/k.pid" k)
st=$("${BO[@]}" state k)
grep -q '"status":"created"' <<<"$st" || fail "state after create: $st"
pid=$(cat "$T/k.pid")
grep -q "\"pid\":$pid" <<<"$st" || fail "state pid differs from --pid-file"
[ ! -e "$T/k/ready" ] || fail "the program ran before start"
ok "create leaves the process waiting"
"${BO[@]}" start k
for _ in $(seq 50); do [ -e "$T/k/ready" ] && break; sleep 0.1; done
[ -e "$T/k/ready" ] || fail "start did not run the program"
"${BO[@]}" state k | grep -q '"status":"running"' || fail "not running after start"
"${BO[@]}" list --format json | python3 -c 'import json,sys; l=json.load(sys.stdin); assert l[0]["id"]=="k" and l[0]["status"]=="running", l'
"${BO[@]}" ps --format json k | python3 -c "import json,sys; assert $pid in json.load(sys.stdin)"
out=$("${BO[@]}" exec k sh -c 'echo $$; cat /proc/1/cmdline | tr "\0" " "')
grep -q "sh -c trap" <<<"$out" || fail "exec did not join the pid namespace: $out"
set +e
"${BO[@]}" exec k sh -c 'exit 5'
rc=$?
set -e
expect_eq "exec exit code" "$rc" 5
"${BO[@]}" kill k TERM
for _ in $(seq 50); do "${BO[@]}" state k | grep -q '"status":"stopped"' && break; sleep 0.1; done
"${BO[@]}" state k | grep -q '"status":"stopped"' || fail "not stopped after kill TERM"
expect_eq "kill delivers the signal" "$(cat "$T/k/sig")" got-term
if "${BO[@]}" start k 2>/dev/null; then fail "start of a stopped container succeeded"; fi
"${BO[@]}" delete k
if "${BO[@]}" state k 2>/dev/null; then fail "state after delete"; fi
ok "delete"

# --- delete --force of a running container; kill --all ---------------------
bundle f sleep 100
edit f 's["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"] if n["type"] != "pid"]'
(cd "$T/f" && "${BO[@]}" run -d f)
"${BO[@]}" state f | grep -q '"status":"running"' || fail "run -d: not running"
if "${BO[@]}" delete f 2>/dev/null; then fail "delete of a running container succeeded"; fi
"${BO[@]}" kill --all f KILL
"${BO[@]}" delete --force f
ok "run --detach, kill --all, delete --force"

# --- a create cut short: its folder without state.json ----------------------
# (a power cut between the folder and the state): create refuses the id,
# plain delete does not know it, delete --force takes the folder away.
bundle cut true
mkdir -p "$ROOT/cut"
: >"$ROOT/cut/config.json"
if (cd "$T/cut" && "${BO[@]}" run cut) 2>"$T/cut.err"; then fail "run over a cut create succeeded"; fi
grep -q "container cut already exists" "$T/cut.err" || fail "run over a cut create: $(cat "$T/cut.err")"
if "${BO[@]}" delete cut 2>/dev/null; then fail "delete without --force of a stateless folder succeeded"; fi
"${BO[@]}" delete --force cut 2>"$T/cut.err" || fail "delete --force of a cut create: $(cat "$T/cut.err")"
grep -q "container cut has no state (a create cut short): removing its folder" "$T/cut.err" ||
	fail "delete --force said: $(cat "$T/cut.err")"
[ ! -e "$ROOT/cut" ] || fail "delete --force left the folder"
(cd "$T/cut" && "${BO[@]}" run cut) || fail "run after delete --force failed"
ok "delete --force takes away what a create cut short left"

# --- joining a namespace by path --------------------------------------------
bundle n1 sleep 100
(cd "$T/n1" && "${BO[@]}" run -d --pid-file "$T/n1.pid" n1)
p1=$(cat "$T/n1.pid")
bundle n2 readlink /proc/self/ns/net
edit n2 "s['linux']['namespaces'] = [n for n in s['linux']['namespaces'] if n['type'] != 'network'] + [{'type': 'network', 'path': '/proc/$p1/ns/net'}]"
expect_eq "joining a network namespace by path" "$(run_in n2)" "$(readlink "/proc/$p1/ns/net")"
"${BO[@]}" delete --force n1

# --- features -----------------------------------------------------------------
"${BO[@]}" features | python3 -c 'import json,sys; f=json.load(sys.stdin); assert "pid" in f["linux"]["namespaces"] and f["linux"]["seccomp"]["enabled"] and "rbind" in f["mountOptions"], f'
ok "features"

# --- --preserve-fds passes fd 3 through; --no-pivot runs too ----------------
bundle pf sh -c 'echo via-fd3 >&3; echo no-pivot-ok'
out=$(cd "$T/pf" && "${BO[@]}" run --preserve-fds 1 --no-pivot pf 3>"$T/fd3.out")
expect_eq "--no-pivot" "$out" no-pivot-ok
expect_eq "--preserve-fds 1" "$(cat "$T/fd3.out")" via-fd3
bundle pf0 sh -c 'echo leak >&3 2>/dev/null || echo closed'
expect_eq "fd 3 is closed without --preserve-fds" "$(cd "$T/pf0" && "${BO[@]}" run pf0 3>"$T/fd3b.out")" closed

# --- a cgroup namespace sees its own cgroup under /sys/fs/cgroup ------------
if [ -e /proc/self/ns/cgroup ]; then
	bundle cg sh -c 'grep -c ":/$" /proc/self/cgroup >/dev/null && echo ns-root; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max'
	edit cg 's["linux"]["namespaces"].append({"type": "cgroup"}); s["linux"]["resources"]["pids"] = {"limit": 50}'
	out=$(run_in cg | tr '\n' ' ')
	expect_eq "cgroup namespace: own cgroup mounted" "$out" "ns-root 50 "
fi

# --- linux.devices: created with its mode, usable under the deny-all policy --
bundle dv sh -c 'head -c 4 /dev/myzero | wc -c; stat -c "%A %t:%T" /dev/myzero; head -c 1 /dev/null; echo null-ok'
edit dv 's["linux"]["devices"] = [{"path": "/dev/myzero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 0, "gid": 0}]'
out=$(run_in dv | tr '\n' ' ')
expect_eq "linux.devices" "$out" "4 crw-r----- 1:5 null-ok "

# --- rootfsPropagation rshared: applied to the new root after pivot_root ----
bundle rp sh -c 'awk "\$5 == \"/\"" /proc/self/mountinfo | grep -o "shared:[0-9]*" | head -n 1 | cut -d: -f1'
edit rp 's["linux"]["rootfsPropagation"] = "rshared"'
expect_eq "rootfsPropagation rshared" "$(run_in rp)" shared

# --- pause / resume (the freezer) --------------------------------------------
bundle pz sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'
(cd "$T/pz" && "${BO[@]}" run -d pz)
sleep 0.5
"${BO[@]}" pause pz
"${BO[@]}" state pz | grep -q '"status":"paused"' || fail "not paused"
a=$(cat "$T/pz/rootfs/tmp/count")
sleep 0.5
expect_eq "pause freezes the processes" "$(cat "$T/pz/rootfs/tmp/count")" "$a"
if "${BO[@]}" delete pz 2>/dev/null; then fail "delete of a paused container succeeded"; fi
"${BO[@]}" resume pz
# A loaded machine may take a while to run the thawed loop again.
moved() { [ "$(cat "$T/pz/rootfs/tmp/count")" -gt "$a" ]; }
for _ in $(seq 100); do moved && break; sleep 0.1; done
moved || fail "resume: the counter did not move in 10 s"
"${BO[@]}" state pz | grep -q '"status":"running"' || fail "not running after resume"
ok "resume"
"${BO[@]}" pause pz
"${BO[@]}" delete --force pz
ok "delete --force of a paused container"
