#!/usr/bin/env bash
# Builds an OCI bundle from Debian's busybox-static, for bolter's tests and
# benchmark:
#
#   tests/bolter/mkbundle.sh DIR [ARGS...]
#
# DIR/rootfs gets /bin/busybox and a link per applet; DIR/config.json is
# the default config `runc spec` writes (pid, ipc, uts, mount and network
# namespaces; proc, /dev tmpfs, devpts, shm, mqueue, sysfs and cgroup
# mounts; the masked and read-only paths; the default capabilities), with
# process.args set to ARGS (default: sh).  Edit it with tests/bolter/
# editspec.py.  With --layout DIR2 it also writes an OCI image layout of the
# root filesystem to DIR2 (tag busybox:latest), for podman and Archon.
set -euo pipefail

layout=
if [ "${1:-}" = --layout ]; then
	layout=$2
	shift 2
fi
dir=${1:?usage: mkbundle.sh [--layout DIR] DIR [ARGS...]}
shift
bb=/bin/busybox
[ -x "$bb" ] && "$bb" --list >/dev/null 2>&1 || {
	echo "mkbundle: no busybox-static (apt-get install busybox-static)" >&2
	exit 77
}
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || {
	echo "mkbundle: $bb is not static (install busybox-static)" >&2
	exit 77
}
rm -rf "$dir/rootfs"
mkdir -p "$dir/rootfs"/{bin,dev,proc,sys,tmp,etc,root,run}
cp "$bb" "$dir/rootfs/bin/busybox"
"$bb" --list | python3 -c '
import os, sys
d = sys.argv[1]
for a in sys.stdin.read().split():
    if a != "busybox":
        os.symlink("busybox", os.path.join(d, a))' "$dir/rootfs/bin"
chmod 1777 "$dir/rootfs/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/rootfs/etc/group"

python3 - "$dir/config.json" "$@" <<'PY'
import json, sys
out, args = sys.argv[1], sys.argv[2:] or ["sh"]
caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
spec = {
  "ociVersion": "1.0.2",
  "process": {
    "terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm"],
    "cwd": "/",
    "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": True},
  "root": {"path": "rootfs", "readonly": False},
  "hostname": "bolter",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}],
  "linux": {
    "resources": {"devices": [{"allow": False, "access": "rwm"}]},
    "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                      "/proc/sysrq-trigger"]}}
json.dump(spec, open(out, "w"), indent=1)
PY

if [ -n "$layout" ]; then
	# An OCI image layout: one uncompressed layer, config, manifest,
	# index.json tagged busybox:latest.
	python3 - "$dir/rootfs" "$layout" <<'PY'
import hashlib, io, json, os, sys, tarfile
root, out = sys.argv[1], sys.argv[2]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    for dp, dns, fns in os.walk(root):
        dns.sort(); fns.sort()
        for n in sorted(dns) + fns:
            p = os.path.join(dp, n)
            ti = t.gettarinfo(p, os.path.relpath(p, root))
            ti.uid = ti.gid = 0; ti.uname = ti.gname = "root"; ti.mtime = 0
            if ti.isfile():
                with open(p, "rb") as f: t.addfile(ti, f)
            else:
                t.addfile(ti)
layer = buf.getvalue()
ldig, lsize = blob(layer)
cfg = {"architecture": "amd64", "os": "linux",
       "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                  "Cmd": ["sh"], "WorkingDir": "/"},
       "rootfs": {"type": "layers", "diff_ids": [ldig]}, "history": [{"created_by": "korhal mkbundle"}]}
cdig, csize = blob(json.dumps(cfg).encode())
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdig, "size": csize},
       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ldig, "size": lsize}]}
mdig, msize = blob(json.dumps(man).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": man["mediaType"], "digest": mdig, "size": msize,
          "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
PY
fi
