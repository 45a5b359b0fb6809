#!/usr/bin/env bash
# What runc and crun do and crun's own suite (scripts/crun-suite.sh) checks,
# on a busybox bundle: HOME from the container's /etc/passwd, a missing cwd
# under a read-only root, unknown capability names skipped, hooks without
# "env" inheriting the runtime's environment, LISTEN_FDS passed on, exec's
# --env, --cap and --no-new-privs, sysctls by namespace, the v1 cgroup mount without a cgroup namespace, the
# keep-groups annotation, devices in a user namespace, delete --regex and
# delete --force.
. "$(dirname "$0")/../bolter/lib.sh"

# --- HOME: from /etc/passwd for the process's uid, "/" when none -----------
printf 'root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n' >"$T/passwd"
bundle h sh -c 'echo "$HOME"'
cp "$T/passwd" "$T/h/rootfs/etc/passwd"
edit h 's["process"]["user"] = {"uid": 1000, "gid": 1000}'
expect_eq "HOME from the container's passwd" "$(run_in h)" /home/u
edit h 's["process"]["user"] = {"uid": 4242, "gid": 4242}'
expect_eq "HOME of a uid passwd lacks" "$(run_in h)" /
edit h 's["process"]["env"].append("HOME=/given")'
expect_eq "HOME given in process.env stays" "$(run_in h)" /given

# --- a cwd that does not exist, read-only root ------------------------------
bundle w sh -c pwd
edit w 's["process"]["cwd"] = "/no/such/dir"; s["root"]["readonly"] = True'
expect_eq "a missing cwd is created before the root goes read-only" "$(run_in w)" /no/such/dir

# --- capability names the build does not know are skipped ------------------
bundle c sh -c 'grep ^CapBnd /proc/self/status | tr "\t" " "'
edit c 's["process"]["capabilities"] = {k: ["CAP_FLY", "CAP_KILL", "NOT_A_CAP"] for k in ("bounding", "effective", "permitted")}'
expect_eq "unknown capabilities skipped" "$(run_in c)" "CapBnd: 0000000000000020"

# --- hooks: without "env" the runtime's environment, with it only that ------
bundle k true
edit k "s['hooks'] = {'prestart': [{'path': '/bin/sh', 'args': ['sh', '-c', 'echo \"\$KORHAL_HOOK_VAR\" > $T/hook1']}, {'path': '/bin/sh', 'args': ['sh', '-c', 'echo \"\${KORHAL_HOOK_VAR:-unset}\" > $T/hook2'], 'env': ['A=1']}]}"
KORHAL_HOOK_VAR=inherited run_in k
expect_eq "a hook without env inherits the runtime's" "$(cat "$T/hook1")" inherited
expect_eq "a hook with env gets only that" "$(cat "$T/hook2")" unset

# --- socket activation: LISTEN_FDS passes fd 3 on, LISTEN_PID=1 -------------
bundle l sh -c 'echo "$LISTEN_FDS $LISTEN_PID $(cat <&3)"'
echo from-fd3 >"$T/fd3"
out=$(cd "$T/l" && LISTEN_FDS=1 "${BO[@]}" run l 3<"$T/fd3")
expect_eq "LISTEN_FDS, LISTEN_PID and the fd" "$out" "1 1 from-fd3"
bundle l2 sh -c 'echo "${LISTEN_FDS:-none} ${LISTEN_PID:-none}"'
out=$(cd "$T/l2" && LISTEN_FDS=1 LISTEN_PID=1 "${BO[@]}" run l2 3<"$T/fd3")
expect_eq "LISTEN_FDS meant for another process is not passed on" "$out" "none none"

# --- exec: --env replaces a variable, --cap as runc adds it -----------------
bundle e sleep 60
edit e 's["process"]["capabilities"] = {}'
(cd "$T/e" && "${BO[@]}" run --detach e)
out=$("${BO[@]}" exec --env PATH=/bin --env FOO=bar e sh -c 'echo "$PATH $FOO"')
expect_eq "exec --env replaces and adds" "$out" "/bin bar"
out=$("${BO[@]}" exec --cap CAP_KILL --cap CAP_NOPE e grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status) ||
	fail "exec --cap: exit status $?: $out"
out=$(awk '{print $2}' <<<"$out" | tr '\n' ' ')
expect_eq "exec --cap: bounding, effective, permitted" "$out" \
	"0000000000000000 0000000000000020 0000000000000020 0000000000000020 0000000000000000 "
edit e 's["process"]["noNewPrivileges"] = False'
"${BO[@]}" delete --force e
(cd "$T/e" && "${BO[@]}" run --detach e)
out=$("${BO[@]}" exec e grep ^NoNewPrivs /proc/self/status | awk '{print $2}')
out="$out $("${BO[@]}" exec --no-new-privs e grep ^NoNewPrivs /proc/self/status | awk '{print $2}')"
expect_eq "exec --no-new-privs" "$out" "0 1"

# --- cgroup v1: the container's own directories without a cgroup namespace --
if [ ! -f /sys/fs/cgroup/cgroup.controllers ] && [ -d /sys/fs/cgroup/pids ]; then
	bundle p cat /sys/fs/cgroup/pids/pids.max
	edit p 's["linux"]["resources"]["pids"] = {"limit": 77}'
	expect_eq "v1 pids.max is the container's" "$(run_in p)" 77
fi

# --- sysctls only in the container's own namespaces ---------------------------
bundle s cat /proc/sys/kernel/msgmax
edit s 's["linux"]["sysctl"] = {"kernel.msgmax": "8193"}'
expect_eq "an IPC sysctl in the container's ipc namespace" "$(run_in s)" 8193
edit s 's["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"] if n["type"] != "ipc"]'
out=$(run_in s 2>&1) && fail "an IPC sysctl without an ipc namespace ran: $out"
grep -qF "linux.sysctl.kernel.msgmax: needs an ipc namespace" <<<"$out" ||
	fail "IPC sysctl without an ipc namespace: $out"
ok "an IPC sysctl without an ipc namespace is refused"

# --- linux.devices in a new user namespace: a node the host lacks, owned --
# as asked (block 1:5 has no node on a host)
if [ -e /proc/self/ns/user ]; then
	bundle d stat -c '%t:%T %u:%g %a' /dev/foo
	edit d 's["linux"]["namespaces"].append({"type": "user"}); s["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]; s["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]; s["linux"]["devices"] = [{"path": "/dev/foo", "type": "b", "major": 1, "minor": 5, "uid": 10, "gid": 11, "fileMode": 384}]'
	expect_eq "a device in a user namespace: numbers, owner, mode" "$(run_in d)" "1:5 10:11 600"
fi

# --- run.oci.keep_original_groups keeps the caller's groups ----------------
bundle g sh -c 'id -G'
edit g 's["process"]["user"]["additionalGids"] = [5]'
expect_eq "additionalGids" "$(run_in g)" "0 5"
edit g 's["annotations"] = {"run.oci.keep_original_groups": "1"}'
out=$(cd "$T/g" && setpriv --groups 11,12 "${BO[@]}" run g)
expect_eq "keep_original_groups" "$out" "0 11 12"

# --- delete --regex, delete --force ----------------------------------------
bundle r1 sleep 60
bundle r2 sleep 60
bundle x1 sleep 60
for b in r1 r2 x1; do (cd "$T/$b" && "${BO[@]}" run --detach "$b"); done
"${BO[@]}" delete --force --regex '^r[0-9]$'
expect_eq "delete --regex removes the matching ones" "$("${BO[@]}" list -q | tr '\n' ' ')" "e x1 "
"${BO[@]}" delete --force x1
"${BO[@]}" delete --force e
expect_eq "delete --force" "$("${BO[@]}" list -q)" ""
set +e
"${BO[@]}" delete --regex '(' 2>/dev/null
rc=$?
set -e
expect_eq "delete --regex with a bad expression: usage error" "$rc" 2
