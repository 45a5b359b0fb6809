#!/usr/bin/env bash
# bench/bolter.sh: bolter against Debian's crun and runc, in one run, on the
# same busybox bundle (tests/bolter/mkbundle.sh) running /bin/true.
#
#   bench/bolter.sh                  # KORHAL_BUILD=/path/to/build to pick a build
#
# Each runtime BENCH_RUNS times (default 40, after 3 warm-up runs), the
# runtimes interleaved (one run each per round, in a rotating order, so a
# busy machine's load falls on all alike), times
# `RUNTIME --root DIR run --bundle B ID`, each a fresh container, start to
# exit:
#   wall     median and 90th percentile of the wall time (ms)
#   cpu      mean (and median) user+system time (ms) of the runtime and everything it
#            waited for (wait4 rusage of GNU time, which ran the runtime:
#            its children and the container's processes, which the
#            runtime reaps as subreaper)
#   peak     the largest maximum RSS of the runtime or anything it waited
#            for (GNU time %M, KiB)
#   binary   the size of the runtime's executable (bytes; shared libraries
#            not counted, for any of them)
# crun 1.8.1 refuses this host's hybrid cgroups: it runs in a private mount
# namespace (as `unshare -m --propagation private`) with
# /sys/fs/cgroup/unified unmounted, as shared/MACHINE-NOTES.md found;
# bolter and runc run on the host as is (so bolter also makes and removes
# the unified hierarchy's folder, which crun does not see).
# Prints a table with the machine, writes bench/results/bolter.txt and
# bench/results/bolter.json.  The targets (start time and peak memory no
# more than crun's, binary no larger than crun's) are reported, not
# enforced.
#
# Environment: KORHAL_BUILD (default <repo>/build), BENCH_RUNS (40),
# BENCH_RESULTS (default bench/results), KORHAL_NO_INSTALL=1.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KORHAL_BUILD:-$root/build}
RUNS=${BENCH_RUNS:-40}
RESULTS=${BENCH_RESULTS:-$root/bench/results}
. "$root/scripts/deps.sh"

[ "$(id -u)" = 0 ] || { echo "bench/bolter.sh: needs root (containers)" >&2; exit 1; }
korhal_install_packages crun runc busybox-static python3 time
bolter=$build/device-agent/bolter/bolter-oci
if [ ! -x "$bolter" ]; then
	cmake -S "$root" -B "$build" -DCR_WERROR=ON >/dev/null
	cmake --build "$build" -j2 --target bolter >/dev/null
fi
crun=$(command -v crun)
runc=$(command -v runc)

T=$(mktemp -d /tmp/korhal-bench-bolter.XXXXXX)
# Runtime state on tmpfs, where runtimes keep it (/run/runc, /run/crun).
STATE=$(mktemp -d /run/korhal-bench-bolter.XXXXXX)
trap 'rm -rf "$T" "$STATE"' EXIT
"$root/tests/bolter/mkbundle.sh" "$T/b" true >/dev/null
mkdir -p "$RESULTS"

# measure: prints one JSON line of figures per runtime.  The runtimes take
# turns, one run each in a rotating order, so that the load of a shared
# machine (other jobs come and go) falls on all of them alike.  crun runs in
# a private mount namespace without the unified hierarchy (see above): the
# driver makes it once and enters it in crun's child before the exec.
measure() {
	python3 - "$T/b" "$STATE" "$RUNS" "$@" <<'PY'
import ctypes, json, os, statistics, sys, time
bundle, state, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
rts = [tuple(a.split("=", 1)) for a in sys.argv[4:]]
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, MNT_DETACH, MS_REC, MS_PRIVATE = 0x20000, 2, 0x4000, 0x40000
host_ns = os.open("/proc/self/ns/mnt", os.O_RDONLY)
if libc.unshare(CLONE_NEWNS) != 0 or \
   libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
    sys.exit("bench: unshare -m: errno %d" % ctypes.get_errno())
libc.umount2(b"/sys/fs/cgroup/unified", MNT_DETACH)
crun_ns = os.open("/proc/self/ns/mnt", os.O_RDONLY)
libc.setns(host_ns, CLONE_NEWNS)
devnull = os.open(os.devnull, os.O_RDWR)
res = {n: {"walls": [], "cpus": [], "peak": 0, "fails": 0} for n, _ in rts}
for i in range(runs + 3):
    k = i % len(rts)
    for name, exe in rts[k:] + rts[:k]:
        r = res[name]
        rep = "%s/state-%s.time" % (state, name)
        t0 = time.monotonic_ns()
        pid = os.fork()
        if pid == 0:
            if name == "crun":
                libc.setns(crun_ns, CLONE_NEWNS)
            os.dup2(devnull, 0); os.dup2(devnull, 1); os.dup2(devnull, 2)
            # GNU time forks the runtime from itself, so the peak RSS is
            # the runtime's (and its waited-for children's), not ours.
            os.execv("/usr/bin/time", ["time", "-f", "%U %S %M", "-o", rep, exe,
                     "--root", "%s/state-%s" % (state, name), "run", "--bundle",
                     bundle, "bench-%s-%d" % (name, i)])
        _, status, ru = os.wait4(pid, 0)
        t1 = time.monotonic_ns()
        if os.waitstatus_to_exitcode(status) != 0:
            r["fails"] += 1
            continue
        if i < 3:
            continue
        u, s_, m = open(rep).read().split()[-3:]
        r["walls"].append((t1 - t0) / 1e6)
        r["cpus"].append((ru.ru_utime + ru.ru_stime) * 1000)
        r["peak"] = max(r["peak"], int(m))
for name, exe in rts:
    r = res[name]
    walls, cpus = sorted(r["walls"]), r["cpus"]
    print(json.dumps({"runtime": name, "runs": len(walls), "failures": r["fails"],
        "wall_ms_median": round(statistics.median(walls), 2) if walls else None,
        "wall_ms_p90": round(walls[int(len(walls) * 0.9) - 1], 2) if walls else None,
        "cpu_ms_median": round(statistics.median(cpus), 2) if cpus else None,
        "cpu_ms_mean": round(statistics.mean(cpus), 2) if cpus else None,
        "peak_rss_kib": r["peak"], "binary_bytes": os.path.getsize(os.path.realpath(exe))}))
PY
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
mapfile -t lines < <(measure "bolter=$bolter" "crun=$crun" "runc=$runc")

machine="$(uname -srm); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(nproc) CPUs; load $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after; cgroups: $("$bolter" --version | sed -n 's/^cgroups: //p')"
versions="bolter $("$bolter" --version | head -n1 | awk '{print $3}'), $(crun --version | head -n1), $(runc --version | head -n1)"
printf '%s\n' "${lines[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
machine, versions, out = sys.argv[1], sys.argv[2], sys.argv[3]
by = {r["runtime"]: r for r in rows}
text = ["bolter vs crun vs runc: `RUNTIME run` of /bin/true in a busybox bundle",
        "machine: " + machine, "versions: " + versions, "",
        "%-8s %5s %10s %10s %10s %10s %10s %12s" % ("runtime", "runs", "wall ms", "p90 ms", "cpu ms", "cpu med", "peak KiB", "binary B")]
for r in rows:
    text.append("%-8s %5d %10s %10s %10s %10s %10s %12d" % (r["runtime"], r["runs"], r["wall_ms_median"], r["wall_ms_p90"], r["cpu_ms_mean"], r["cpu_ms_median"], r["peak_rss_kib"], r["binary_bytes"]))
b, c = by.get("bolter"), by.get("crun")
if b and c and b["runs"] and c["runs"]:
    text.append("")
    for key, what in (("wall_ms_median", "start-to-exit wall"), ("cpu_ms_mean", "CPU"), ("cpu_ms_median", "CPU median"), ("peak_rss_kib", "peak memory"), ("binary_bytes", "binary size")):
        text.append("target %-20s bolter %s vs crun %s: %s" % (what, b[key], c[key], "met" if b[key] <= c[key] else "NOT met"))
open(out + ".txt", "w").write("\n".join(text) + "\n")
json.dump({"machine": machine, "versions": versions, "results": rows}, open(out + ".json", "w"), indent=1)
print("\n".join(text))
' "$machine" "$versions" "$RESULTS/bolter"
echo "written: $RESULTS/bolter.txt $RESULTS/bolter.json"
