#!/usr/bin/env bash
# bolter's cgroup limits and config validation on a busybox bundle: a
# memory limit kills an allocating process, a pids limit stops fork, device
# rules on cgroup v1 and v2, update and events of a running container, a bad
# config.json fails with the field named and leaves nothing behind.
. "$(dirname "$0")/../bolter/lib.sh"

# --- memory: 16 MiB (no swap); tail buffers 64 MiB of one line -------------
bundle mem sh -c 'head -c 67108864 /dev/zero | tail > /dev/null'
edit mem 's["linux"]["resources"]["memory"] = {"limit": 16777216, "swap": 16777216}'
set +e
out=$(run_in mem 2>&1)
rc=$?
set -e
[ "$rc" = 137 ] || fail "memory limit: exit $rc, want 137 (SIGKILL); output: $out"
ok "a memory limit kills the allocating process (exit 137)"
# The same kill seen by `events`: an "oom" event, then the stream ends.
bundle oom sh -c 'sleep 1; head -c 67108864 /dev/zero | tail > /dev/null; sleep 1'
edit oom 's["linux"]["resources"]["memory"] = {"limit": 16777216, "swap": 16777216}'
(cd "$T/oom" && "${BO[@]}" run --detach oom)
evs=$(timeout 20 "${BO[@]}" events --interval 100ms oom || true)
grep -q '"type":"oom","id":"oom"' <<<"$evs" || fail "events: no oom event: $evs"
"${BO[@]}" delete --force oom
ok "events reports the kernel's OOM kill"

# --- pids: at most 4 processes ------------------------------------------------
bundle pids sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait'
out=$(run_in pids 2>&1 || true)
grep -q "can't fork" <<<"$out" && fail "without a pids limit fork failed: $out"
edit pids 's["linux"]["resources"]["pids"] = {"limit": 4}'
out=$(run_in pids 2>&1 || true)
grep -q "can't fork" <<<"$out" || fail "pids limit 4: 8 forks succeeded: $out"
ok "a pids limit stops fork"

# --- cpu and cpuset are written where the host keeps them -------------------
bundle cpu sh -c 'echo ok'
edit cpu 's["linux"]["resources"]["cpu"] = {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}'
expect_eq "cpu shares, quota and cpuset" "$(run_in cpu)" ok

# --- device rules: deny all, then allow reading /dev/net/tun (10:200) ------
# Host nodes bound in (nodes in linux.devices are allowed by themselves, as
# in runc), so only the rules decide.  The same bundle runs on v1's devices
# controller and, in a mount namespace without the v1 devices hierarchy, on
# cgroup v2's device program (eBPF).  Opening these nodes does nothing.
dev_probe='for d in "3</dev/tun" "3>/dev/tun" "3</dev/lc" "3</dev/null"; do
	(eval "exec $d") 2>/dev/null && echo ok || echo denied; done'
bundle dev sh -c "$dev_probe"
edit dev 's["mounts"] += [{"destination": "/dev/tun", "type": "bind", "source": "/dev/net/tun", "options": ["bind"]}, {"destination": "/dev/lc", "type": "bind", "source": "/dev/loop-control", "options": ["bind"]}]; s["linux"]["resources"]["devices"] = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "r"}]'
want="ok denied denied ok "
mode=$(awk '$3 == "cgroup" && $4 ~ /(^|,)devices(,|$)/ {print "v1"}' /proc/self/mounts | head -n 1)
expect_eq "device rules (${mode:-v2 eBPF})" "$(run_in dev | tr '\n' ' ')" "$want"
if [ "$mode" = v1 ] && grep -q " /sys/fs/cgroup/unified cgroup2 " /proc/self/mounts &&
	unshare -m true 2>/dev/null; then
	v2_run() {
		(cd "$T/dev" && unshare -m sh -c 'umount /sys/fs/cgroup/devices && exec "$@"' sh \
			"${BO[@]}" run dev | tr '\n' ' ')
	}
	expect_eq "device rules on cgroup v2 (eBPF device program)" "$(v2_run)" "$want"
	# Without rules no program is attached, and everything opens.
	edit dev 's["linux"]["resources"]["devices"] = []'
	expect_eq "no device rules, no device program" "$(v2_run)" "ok ok ok ok "
fi

# --- update: new limits for a running container --------------------------------
bundle up sh -c 'while :; do sleep 1; done'
(cd "$T/up" && "${BO[@]}" run --detach up)
cgval() { # cgval FILE: the container's value of a cgroup file, wherever mounted
	local f
	f=$(find /sys/fs/cgroup -path "*$CGPARENT/up/$1" 2>/dev/null | head -n 1)
	[ -n "$f" ] || fail "update: no $1 for the container"
	cat "$f"
}
"${BO[@]}" update --pids-limit 7 --memory 48m up
expect_eq "update --pids-limit" "$(cgval pids.max)" 7
mem=$(cgval memory.limit_in_bytes 2>/dev/null || cgval memory.max)
expect_eq "update --memory 48m" "$mem" $((48 << 20))
echo '{"pids": {"limit": 9}, "cpu": {"shares": 512}}' | "${BO[@]}" update --resources - up
expect_eq "update --resources - (pids)" "$(cgval pids.max)" 9
set +e
err=$("${BO[@]}" update --kernel-memory 10 up 2>&1)
rc1=$?
err2=$("${BO[@]}" update --memory lots up 2>&1)
rc2=$?
err3=$(echo '{"pids": {"limit": "x"}}' | "${BO[@]}" update -r - up 2>&1)
rc3=$?
set -e
[ $rc1 -ne 0 ] && grep -q "kernel-memory: not supported" <<<"$err" || fail "update --kernel-memory: $rc1 $err"
[ $rc2 -ne 0 ] && grep -q "memory: 'lots' is not a valid value" <<<"$err2" || fail "update --memory lots: $rc2 $err2"
[ $rc3 -ne 0 ] && grep -q "linux.resources.pids.limit" <<<"$err3" || fail "update bad resources: $rc3 $err3"
expect_eq "a refused update changes nothing" "$(cgval pids.max)" 9
# events: the same limits in runc's stats JSON, and a stream of them
ev=$("${BO[@]}" events --stats up)
python3 - "$ev" <<'PY' || fail "events --stats: $ev"
import json, sys
e = json.loads(sys.argv[1])
assert e["type"] == "stats" and e["id"] == "up", e
d = e["data"]
assert d["pids"]["limit"] == 9 and d["pids"]["current"] >= 1, d
assert d["memory"]["usage"]["limit"] == 48 << 20 and d["memory"]["usage"]["usage"] > 0, d
assert d["cpu"]["usage"]["total"] > 0, d
PY
ok "events --stats: pids, memory and cpu as runc reports them"
n=$(timeout 5 "${BO[@]}" events --interval 200ms up | head -n 3 | grep -c '"type":"stats"' || true)
expect_eq "events --interval 200ms streams" "$n" 3
"${BO[@]}" kill up KILL
for _ in $(seq 50); do "${BO[@]}" state up | grep -q '"stopped"' && break; sleep 0.1; done
"${BO[@]}" update --pids-limit 5 up 2>/dev/null && fail "update of a stopped container succeeded"
"${BO[@]}" delete up
ok "update refuses unsupported flags, bad values, and stopped containers"

# --- bad config.json ------------------------------------------------------------
bundle bad true
cp "$T/bad/config.json" "$T/good.json"
bad_case() { # bad_case WHAT PYTHON EXPECTED-SUBSTRING
	cp "$T/good.json" "$T/bad/config.json"
	edit bad "$2"
	set +e
	err=$(run_in bad 2>&1 >/dev/null)
	rc=$?
	set -e
	[ "$rc" -ne 0 ] || fail "$1: accepted"
	grep -qF "$3" <<<"$err" || fail "$1: error '$err' does not name '$3'"
	[ -z "$("${BO[@]}" list -q)" ] || fail "$1: left a container behind"
	ok "bad config ($1): $err"
}
bad_case "args not an array" 's["process"]["args"] = "true"' "process.args"
bad_case "capability not a string" 's["process"]["capabilities"]["bounding"] = [7]' "process.capabilities.bounding[0]"
bad_case "unknown namespace" 's["linux"]["namespaces"].append({"type": "time2"})' "linux.namespaces[5].type"
bad_case "missing root" 'del s["root"]' "root.path"
bad_case "bad rlimit" 's["process"]["rlimits"] = [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]' "process.rlimits[0].type"
bad_case "float memory" 's["linux"]["resources"]["memory"] = {"limit": 1.5}' "linux.resources.memory.limit"
bad_case "no such program" 's["process"]["args"] = ["nosuchprog"]' "executable file not found"
bad_case "bad mount" 's["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "x"})' "mounts[7]"
printf '{"ociVersion": "1.0.2", "root": {"path": "rootfs"' >"$T/bad/config.json"
set +e
err=$(run_in bad 2>&1 >/dev/null)
set -e
grep -q "not valid JSON" <<<"$err" || fail "truncated JSON: $err"
ok "bad config (truncated JSON): $err"
leftover=$(find /sys/fs/cgroup -path "*$CGPARENT/bad*" -type d 2>/dev/null | head -n 1)
[ -z "$leftover" ] || fail "a failed create left the cgroup $leftover"
ok "failed creates leave no cgroup"
