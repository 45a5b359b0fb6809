#!/usr/bin/env bash
# Content-addressed linking, disk and download (docs/linking.md, "Bench").
# Five apps share libraries (glibc, libssl, libcurl and its 20-odd
# dependencies, sqlite, ...) and one library of their own, libfoo (300 KB),
# which gets 3 updates (a small change each).  Each update relinks the five
# apps.  Compared, on a device that keeps only the newest version:
#   cal     archon link + publish + pull (measured: the bytes the pulls
#           fetched, the store's disk after gc --keep 1);
#   docker  one image per app: a shared base layer (ld.so, libc) and an app
#           layer holding the executable and its own copies of the other
#           libraries (tar.gz); an update re-downloads each app's layer;
#   usrlib  one shared /usr/lib (a system package update): every library
#           once, an update downloads libfoo's package once, and every app
#           switches to it at the same moment;
#   nix     store paths by name and input hash (/nix/store/<h>-libfoo-N):
#           libraries once, an update downloads the new libfoo and every
#           app that depends on it (new input hash), whole (NAR.xz).
# usage: bench/cal.sh [WORKDIR]   (needs ARCHON=path/to/archon or build/)
# Writes only under WORKDIR (default: a new temporary folder).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ARCHON=$(realpath "${ARCHON:-$HERE/../build/device-agent/archon/archon}")
export ARCHON
W=${1:-$(mktemp -d /tmp/korhal-calbench.XXXXXX)}
mkdir -p "$W"
# A folder of its own (no WORKDIR given) goes away, also on Ctrl-C.
[ -n "${1:-}" ] || trap 'rm -rf "$W"' EXIT
cd "$W"
S=$W/pub D=$W/dev O=$W/origin
rm -rf "$S" "$D" "$O" src
mkdir -p src
pub() { "$ARCHON" --store "$S" "$@"; }
dev() { "$ARCHON" --store "$D" "$@"; }

# libfoo: a 256 KiB table (the bulk of a real library) and a little code.
python3 - >src/table.c <<'EOF'
import random
r = random.Random(7)
print("const unsigned char foo_table[262144] = {")
print(",".join(str(r.randrange(256)) for _ in range(262144)))
print("};")
EOF
gcc -c -fPIC -O2 -o src/table.o src/table.c
build_foo() { # build_foo N: libfoo.so.1 version N (a small change)
	printf 'extern const unsigned char foo_table[];\nint foo_fix(int x){return x * %d + foo_table[x & 255];}\nconst char *foo_version(void){return "libfoo %d";}\n' "$1" "$1" >src/foo.c
	gcc -shared -fPIC -O2 -Wl,-soname,libfoo.so.1 -o src/libfoo.so.1 src/foo.c src/table.o
}
declare -A LIBS=(
	[app1]="-lz"
	[app2]="-lssl -lcrypto"
	[app3]="-lsqlite3"
	[app4]="-lcurl"
	[app5]="-ljson-c -lsodium -lzstd"
)
APPS="app1 app2 app3 app4 app5"
build_foo 1
for a in $APPS; do
	printf '#include <stdio.h>\nconst char *foo_version(void);\nint main(void){puts(foo_version());return 0;}\n' >"src/$a.c"
	# shellcheck disable=SC2086
	gcc -O2 -o "src/$a" "src/$a.c" -Lsrc -l:libfoo.so.1 -Wl,--no-as-needed ${LIBS[$a]}
done

bytes_of_pull() { sed -n 's/^pulled .*: \([0-9]*\) bytes.*/\1/p'; }
disk() { du -sB1 "$1/objects" | cut -f1; }
row() { printf '%-8s %-7s %12s %12s\n' "$@"; }

results=$W/results.txt
: >"$results"
for v in 1 2 3 4; do
	[ "$v" = 1 ] || build_foo "$v"
	dl=0
	for a in $APPS; do
		pub link --name "$a:$v" --prefix "$D/cal" -L "$W/src" "src/$a" >/dev/null
		pub publish "$a:$v" --to "$O" -q >/dev/null
	done
	for a in $APPS; do
		b=$(dev pull "file://$O" "$a:$v" --insecure -q 2>/dev/null | bytes_of_pull)
		dl=$((dl + b))
	done
	for a in $APPS; do
		[ "$(dev run "$a:$v")" = "libfoo $v" ] || { echo "$a:$v does not run" >&2; exit 1; }
	done
	dev gc --keep 1 >/dev/null
	echo "cal $v $dl $(disk "$D")" >>"$results"
done

# The other layouts, from the same files: each app's closure is its
# link.json (the objects are the publisher's store's cal/ files).
python3 - "$S" "$W" "$results" <<'EOF'
import json, lzma, gzip, io, os, subprocess, sys, tarfile
S, W, results = sys.argv[1:4]
apps = ["app%d" % i for i in range(1, 6)]

def manifest(name):
    d = os.path.join(W, "co-" + name.replace(":", "-"))
    if not os.path.exists(d):
        subprocess.run([os.environ["ARCHON"],
                        "--store", S, "checkout", name, d], check=True, capture_output=True)
    return json.load(open(os.path.join(d, "link.json")))

def obj(h):
    return open(os.path.join(S, "cal", h), "rb").read()

def tgz(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files:
            ti = tarfile.TarInfo(name); ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return len(buf.getvalue())

base = {"libc.so.6", "libm.so.6"}
out = open(results, "a")
for v in range(1, 5):
    ms = {a: manifest("%s:%d" % (a, v)) for a in apps}
    interp = ms["app1"]["interp"]["hash"]
    base_files = [("ld.so", obj(interp))] + [(l["soname"], obj(l["hash"]))
                  for l in ms["app1"]["libs"] if l["soname"] in base]
    base_disk = sum(len(d) for _, d in base_files)
    # docker: base layer once, one app layer per app (its own copies)
    d_disk, d_dl = base_disk, (tgz(base_files) if v == 1 else 0)
    for a in apps:
        files = [(a, obj(ms[a]["exe"][0]["hash"]))] + [
            (l["soname"], obj(l["hash"])) for l in ms[a]["libs"] if l["soname"] not in base]
        d_disk += sum(len(d) for _, d in files)
        d_dl += tgz(files)
    # usrlib and nix: every library once
    libs = {}
    for a in apps:
        for l in ms[a]["libs"]:
            libs[l["hash"]] = l
    exes = [obj(ms[a]["exe"][0]["hash"]) for a in apps]
    u_disk = len(obj(interp)) + sum(l["size"] for l in libs.values()) + sum(map(len, exes))
    foo = [l for l in libs.values() if l["soname"] == "libfoo.so.1"][0]
    if v == 1:
        u_dl = len(gzip.compress(obj(interp))) + sum(len(gzip.compress(obj(h))) for h in libs) + sum(len(gzip.compress(e)) for e in exes)
        n_dl = len(lzma.compress(obj(interp))) + sum(len(lzma.compress(obj(h))) for h in libs) + sum(len(lzma.compress(e)) for e in exes)
    else:
        u_dl = len(gzip.compress(obj(foo["hash"])))
        n_dl = len(lzma.compress(obj(foo["hash"]))) + sum(len(lzma.compress(e)) for e in exes)
    out.write("docker %d %d %d\n" % (v, d_dl, d_disk))
    out.write("usrlib %d %d %d\n" % (v, u_dl, u_disk))
    out.write("nix %d %d %d\n" % (v, n_dl, u_disk))
EOF

echo "# 5 apps, libfoo 1 then 3 updates; download = bytes fetched, disk = bytes kept (newest only)"
row layout version download disk
sort -k1,1 -s "$results" | while read -r l v dl dk; do row "$l" "$v" "$dl" "$dk"; done
echo "# totals over the 3 updates (download)"
for l in cal docker usrlib nix; do
	awk -v l="$l" '$1 == l && $2 > 1 {s += $3} END {printf "%-8s %12d\n", l, s}' "$results"
done
