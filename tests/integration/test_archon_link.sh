#!/usr/bin/env bash
# Content-addressed linking (archon link / archon run, docs/linking.md):
# the research note's checks.  Two apps against two builds of one soname
# run side by side; a shared library is one object (one inode) and costs
# the second link nothing; relinking one app changes only its version;
# a poisoned LD_LIBRARY_PATH changes nothing and every mapped .so is under
# the prefix; inconsistent closures are refused naming both files; one
# flipped byte is refused before exec and named by archon verify; a real
# glibc binary with version references (and /bin/ls), static-PIE, a
# declared dlopen plugin, compat mode, signing, and arm64 under qemu-user
# when the cross toolchain is there.  Everything lives in $T (the prefix
# is $T/store/cal).
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"
"$ARCHON" link --help >/dev/null 2>&1 || { echo "SKIP: archon built without link (libelf)"; exit 77; }
command -v gcc >/dev/null || { echo "SKIP: no gcc"; exit 77; }
S=$T/store
P=$S/cal
ar() { "$ARCHON" --store "$S" "$@"; }
# manifest NAME: NAME's link.json; jq_ EXPR: EXPR of the JSON m on stdin.
manifest() {
	local d
	d=$(mktemp -d "$T/co.XXXXXX")
	ar checkout "$1" "$d/t" >/dev/null && cat "$d/t/link.json" && rm -rf "$d"
}
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
jq_() { python3 -c 'import json,sys; m=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

W=$T/src
mkdir -p "$W/v1" "$W/v2" "$W/poison" "$W/plug"
cd "$W"
printf 'const char *foo_version(void){return VER;}\n' >foo.c
printf 'const char *foo_version(void);\nconst char *bar_says(void){return foo_version();}\n' >bar.c
cat >app.c <<'EOF'
#include <stdio.h>
#include <unistd.h>
const char *bar_says(void);
int main(int argc, char **argv)
{
	puts(bar_says());
	fflush(stdout);
	/* With an argument: stay until that file exists (side by side). */
	for (int i = 0; argc > 1 && i < 6000 && access(argv[1], F_OK) != 0; i++)
		usleep(10000);
	return 0;
}
EOF
for v in 1 2; do
	gcc -shared -fPIC -DVER="\"foo-v$v\"" -Wl,-soname,libfoo.so.1 -o "v$v/libfoo.so.1" foo.c
done
gcc -shared -fPIC -DVER='"poisoned"' -Wl,-soname,libfoo.so.1 -o poison/libfoo.so.1 foo.c
gcc -shared -fPIC -Wl,-soname,libbar.so.1 -o libbar.so.1 bar.c -Lv1 -l:libfoo.so.1
gcc -o app app.c -L. -l:libbar.so.1 -Wl,-rpath-link,v1
sed 's/puts(bar_says());/printf("other %s\\n", bar_says());/' app.c >other.c
gcc -o other other.c -L. -l:libbar.so.1 -Wl,-rpath-link,v1

# --- 1. side by side ------------------------------------------------------
ar link --name app1:1 -L "$W" -L "$W/v1" app >"$T/l1.out" || fail "link app1: $(cat "$T/l1.out")"
ar link --name app2:1 -L "$W" -L "$W/v2" app >"$T/l2.out" || fail "link app2"
"$ARCHON" --store "$S" run app1:1 "$T/go" >"$T/r1.out" &
R1=$!
PIDS+=("$R1")
"$ARCHON" --store "$S" run app2:1 "$T/go" >"$T/r2.out" &
R2=$!
PIDS+=("$R2")
for _ in $(seq 200); do [ -s "$T/r1.out" ] && [ -s "$T/r2.out" ] && break; sleep 0.05; done
kill -0 "$R1" && kill -0 "$R2" || fail "the two apps are not running together"
# --- 4. hermetic (on the running processes) --------------------------------
for pid in $R1 $R2; do
	sos=$(awk '$6 ~ /\// {print $6}' "/proc/$pid/maps" | sort -u | grep -v "^$P/" | grep -v '^\[' || true)
	[ -z "$sos" ] || fail "pid $pid maps files outside $P: $sos"
	[ "$(awk '$6 ~ /\// {print $6}' "/proc/$pid/maps" | sort -u | wc -l)" -ge 4 ] ||
		fail "pid $pid maps too few files"
done
touch "$T/go"
wait "$R1" "$R2"
expect_eq "app1" "$(cat "$T/r1.out")" foo-v1
expect_eq "app2" "$(cat "$T/r2.out")" foo-v2
ok "two builds of libfoo.so.1 side by side, each app prints its own; all mapped files under the prefix"

# run only reads a version it has made runnable: it starts while another
# reader (a checkout, another run) holds the store.
if command -v flock >/dev/null; then
	(exec 9<"$S/lock" && flock -s 9 && exec sleep 30) &
	HOLD=$!
	PIDS+=("$HOLD")
	sleep 0.2
	expect_eq "run beside a reader" "$(ar run app1:1)" foo-v1
	kill "$HOLD"
	wait "$HOLD" 2>/dev/null || true
fi
exe1=$(jq_ 'm["exe"][0]["hash"]' < <(manifest app1:1))
expect_eq "poisoned LD_LIBRARY_PATH" "$(env -i LD_LIBRARY_PATH="$W/poison" "$P/$exe1")" foo-v1
# (archon itself gets the preload too: not under ASan, whose runtime must
# come first.)
pre=$W/poison/libfoo.so.1
[ "$KORHAL_ASAN" = 0 ] || pre=
expect_eq "archon run with LD_LIBRARY_PATH" "$(LD_LIBRARY_PATH="$W/poison" LD_PRELOAD="$pre" ar run app1:1)" foo-v1
n=$(env -i LD_DEBUG=libs "$P/$exe1" 2>&1 | grep -c "search path" || true)
expect_eq "loader searches" "$n" 0
ok "hermetic: a poisoned LD_LIBRARY_PATH changes nothing, the loader searches nothing"

# --- 2. sharing -----------------------------------------------------------
bar1=$(jq_ '[l["hash"] for l in m["libs"] if l["soname"]=="libbar.so.1"][0]' < <(manifest app1:1))
bar2=$(jq_ '[l["hash"] for l in m["libs"] if l["soname"]=="libbar.so.1"][0]' < <(manifest app2:1))
expect_eq "libbar is one object" "$bar1" "$bar2"
ar link --name other:1 -L "$W" -L "$W/v1" other >"$T/l3.out"
grep -q "1 new object " "$T/l3.out" || fail "a second app with the same libraries added more than its executable: $(cat "$T/l3.out")"
n=$(find "$S/objects" -type f -samefile "$P/$bar1" | wc -l)
expect_eq "objects holding libbar" "$n" 1
[ "$(stat -c %h "$P/$bar1")" = 2 ] || fail "libbar: $(stat -c %h "$P/$bar1") links, want 2 (object + cal)"
ok "a library shared by three apps is one object (one inode); the third link added only its executable"

# --- 3. relink: deterministic, update isolation -----------------------------
manifest app2:1 >"$T/app2.before"
ar link --name app1:again -L "$W" -L "$W/v1" app >/dev/null
cmp <(manifest app1:1 | grep -v '"app"') <(manifest app1:again | grep -v '"app"') ||
	fail "two links of the same files differ"
grep -q "0 new objects" <(ar link --name app1:third -L "$W" -L "$W/v1" app) || fail "a relink wrote objects"
ar link --name app1:2 -L "$W" -L "$W/v2" app >/dev/null
cmp "$T/app2.before" <(manifest app2:1) || fail "relinking app1 changed app2's manifest"
ar verify >/dev/null || fail "verify after relinks"
expect_eq "app2 after app1's update" "$(ar run app2:1)" foo-v2
expect_eq "app1:2" "$(ar run app1:2)" foo-v2
diff <(manifest app1:1 | grep -v '"app"') <(manifest app1:2 | grep -v '"app"') | grep '^>' >"$T/d" || true
[ "$(wc -l <"$T/d")" = 2 ] || fail "app1's update changed more than the exe and libfoo hashes: $(cat "$T/d")"
ok "two links give identical bytes; relinking app1 changes only app1's manifest (exe and libfoo)"

# --- 5. inconsistent closures ----------------------------------------------
printf '#include <stdio.h>\nconst char *foo_version(void);\nint main(void){puts(foo_version());return 0;}\n' >direct.c
gcc -o dA direct.c -Lv1 -l:libfoo.so.1 -Wl,-rpath,"$W/v1"
gcc -o dB direct.c -Lv2 -l:libfoo.so.1 -Wl,-rpath,"$W/v2"
if ar link --name bad:1 dA dB 2>"$T/err"; then fail "two files for one soname accepted"; fi
grep -q "two files for soname libfoo.so.1: $W/v1/libfoo.so.1 and $W/v2/libfoo.so.1" "$T/err" ||
	fail "two sonames: $(cat "$T/err")"
mkdir -p "$T/sys/lib64" "$T/sys/lib/x86_64-linux-gnu"
interp=$(readelf -lW app | sed -n 's/.*interpreter: \(.*\)]/\1/p')
libc=$(ldd app | awk '/libc.so.6/ {print $3}')
mkdir -p "$(dirname "$T/sys$interp")"
# Another build of the same ld.so: one character of its banner's build id.
python3 - "$interp" "$T/sys$interp" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.index(b") stable release version")
b[i - 1] = ord("Z") if b[i - 1] != ord("Z") else ord("Y")
open(sys.argv[2], "wb").write(b)
EOF
cp "$libc" "$T/sys/lib/x86_64-linux-gnu/libc.so.6"
if ar link --name bad:2 --sysroot "$T/sys" -L "$W" -L "$W/v1" app 2>"$T/err"; then
	fail "an ld.so and libc from different builds accepted"
fi
grep -q "interpreter $T/sys$interp and $T/sys/lib/x86_64-linux-gnu/libc.so.6 come from different glibc builds" "$T/err" ||
	fail "ld.so/libc: $(cat "$T/err")"
if command -v aarch64-linux-gnu-gcc >/dev/null; then
	aarch64-linux-gnu-gcc -o arm direct.c foo.c -DVER='"arm64"'
	if ar link --name bad:3 -L "$W/v1" dA arm 2>"$T/err"; then fail "mixed machines accepted"; fi
	grep -q "mixed machines: dA is x86_64, arm is aarch64" "$T/err" || fail "machines: $(cat "$T/err")"
fi
ar ls | grep -q '^bad:' && fail "a refused link left a version"
ok "inconsistent closures refused naming both files (two sonames, ld.so/libc builds, machines)"

# --- 6. tamper --------------------------------------------------------------
foo1=$(jq_ '[l["hash"] for l in m["libs"] if l["soname"]=="libfoo.so.1"][0]' < <(manifest app1:1))
chmod u+w "$P/$foo1"
printf '\x01' | dd of="$P/$foo1" bs=1 seek=200 conv=notrunc status=none
chmod 0555 "$P/$foo1"
if ar run app1:1 >"$T/out" 2>"$T/err"; then fail "a changed library ran"; fi
[ ! -s "$T/out" ] || fail "the program ran before the refusal: $(cat "$T/out")"
grep -q "refusing to run: library libfoo.so.1 $P/$foo1 does not match its hash" "$T/err" ||
	fail "tamper: $(cat "$T/err")"
if ar verify >"$T/v.out" 2>&1; then fail "verify passed a changed object"; fi
grep -q "$foo1" "$T/v.out" || fail "verify does not name the object: $(cat "$T/v.out")"
chmod u+w "$P/$foo1"
printf '\x01' | dd of="$P/$foo1" bs=1 seek=200 conv=notrunc status=none
python3 - "$P/$foo1" "$W/v1/libfoo.so.1" <<'EOF'
import sys
open(sys.argv[1], "r+b").write(open(sys.argv[2], "rb").read())
EOF
chmod 0555 "$P/$foo1"
expect_eq "repaired" "$(ar run app1:1)" foo-v1
ok "one changed byte in a library: run refuses before exec naming it, verify names it"

# --- 7. real-world ELF -------------------------------------------------------
readelf -VW "$P/$exe1" | grep -q "File: $P/" || fail ".gnu.version_r not renamed"
if command -v eu-elflint >/dev/null; then
	eu-elflint --gnu-ld "$P/$exe1" >"$T/lint" 2>&1 || true
	if grep -Ei "version_r|dynamic|interp|program header" "$T/lint"; then
		fail "eu-elflint: $(cat "$T/lint")"
	fi
fi
ar link --name ls:1 /bin/ls >/dev/null || fail "link /bin/ls"
ar run ls:1 -d "$W" | grep -qx "$W" || fail "linked ls"
gcc -static-pie -o spie direct.c foo.c -DVER='"static-pie"' 2>/dev/null && {
	ar link --name spie:1 spie >"$T/l.out"
	grep -q "(static)" "$T/l.out" || fail "static-PIE: $(cat "$T/l.out")"
	cmp spie "$P/$(jq_ 'm["exe"][0]["hash"]' < <(manifest spie:1))" || fail "static-PIE rewritten"
	expect_eq "static-PIE" "$(ar run spie:1)" static-pie
}
ML=/usr/lib/x86_64-linux-musl
if command -v musl-gcc >/dev/null && [ -f "$ML/rcrt1.o" ]; then
	# Debian's musl-gcc ignores -static-pie: link by hand (rcrt1.o).
	musl-gcc -fPIE -c -o m.o -x c - <<<'#include <stdio.h>
int main(void){puts("musl static-pie");return 0;}'
	ld -static -pie --no-dynamic-linker -o mspie "$ML/rcrt1.o" "$ML/crti.o" m.o "$ML/libc.a" "$ML/crtn.o"
	readelf -hW mspie | grep -q "DYN" && ! readelf -lW mspie | grep -q INTERP ||
		fail "mspie is not a static PIE"
	ar link --name mspie:1 mspie >/dev/null
	expect_eq "musl static-PIE" "$(ar run mspie:1)" "musl static-pie"
	musl=", musl static-PIE"
fi
ok "a glibc binary with version references, /bin/ls, glibc static-PIE${musl:-} link and run; eu-elflint clean"

# Cross targets with Debian's cross sysroots, run under qemu-user: the
# loader and libc are the sysroot's, the library is built for the target.
cross=""
targets="aarch64-linux-gnu:aarch64 arm-linux-gnueabi:arm mipsel-linux-gnu:mipsel mips-linux-gnu:mips"
[ "$KORHAL_ASAN" = 0 ] || targets=aarch64-linux-gnu:aarch64 # the same code path, one arch
for t in $targets; do
	tc=${t%%:*} q=${t##*:}
	command -v "$tc-gcc" >/dev/null && command -v "qemu-$q-static" >/dev/null &&
		[ -d "/usr/$tc/lib" ] || continue
	mkdir -p "$W/$tc"
	"$tc-gcc" -shared -fPIC -DVER="\"foo-$tc\"" -Wl,-soname,libfoo.so.1 -o "$W/$tc/libfoo.so.1" foo.c
	"$tc-gcc" -o "$W/$tc/direct" direct.c -L"$W/$tc" -l:libfoo.so.1
	ar link --name "x-$q:1" --sysroot "/usr/$tc" -L "$W/$tc" "$W/$tc/direct" >"$T/x.out" ||
		fail "link for $tc: $(cat "$T/x.out")"
	xe=$(jq_ 'm["exe"][0]["hash"]' < <(manifest "x-$q:1"))
	readelf -lW "$P/$xe" | grep -q "interpreter: $P/" || fail "$tc: interpreter not rewritten"
	expect_eq "$tc under qemu" "$("qemu-$q-static" "$P/$xe")" "foo-$tc"
	cross="$cross $q"
done
[ -z "$cross" ] || ok "cross-linked with the sysroots, run under qemu-user:$cross"

# --- 8. dlopen, compat, signing ---------------------------------------------
printf 'const char *plug(void){return "plugin from the store";}\n' >plug.c
gcc -shared -fPIC -Wl,-soname,libplug.so -o plug/libplug.so plug.c
cp plug/libplug.so plug/libundeclared.so
cat >dl.c <<'EOF'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	void *h = dlopen(argv[1], RTLD_NOW);
	const char *(*f)(void);

	if (h == NULL) {
		printf("dlopen %s failed\n", argv[1]);
		return 3;
	}
	f = (const char *(*)(void))dlsym(h, "plug");
	puts(f());
	return 0;
}
EOF
gcc -o dl dl.c -ldl -Wl,-rpath,"$W/plug"
ar link --name dl:1 -L "$W/plug" --dlopen libplug.so dl >/dev/null
expect_eq "declared plugin" "$(ar run dl:1 libplug.so)" "plugin from the store"
set +e
out=$(ar run dl:1 libundeclared.so)
rc=$?
set -e
expect_eq "undeclared plugin (DT_RUNPATH dropped)" "$out/$rc" "dlopen libundeclared.so failed/3"
ar link --name app1:compat --compat -L "$W" -L "$W/v1" app >/dev/null
cmp app "$P/$(jq_ 'm["exe"][0]["hash"]' < <(manifest app1:compat))" || fail "compat mode changed the executable"
expect_eq "compat mode" "$(LD_LIBRARY_PATH="$W/poison" ar run app1:compat)" foo-v1
"$CARRIER" keygen --type vendor -o "$T/ven.key" >/dev/null
"$CARRIER" keygen --type vendor -o "$T/other.key" >/dev/null
ar link --name app1:signed --key "$T/ven.key" -L "$W" -L "$W/v1" app >/dev/null
expect_eq "signed" "$(ar run --publisher-key "$T/ven.key.pub" app1:signed)" foo-v1
if ar run --publisher-key "$T/other.key.pub" app1:signed 2>"$T/err"; then fail "another key accepted"; fi
grep -q "signed by another key" "$T/err" || fail "other key: $(cat "$T/err")"
if ar run --publisher-key "$T/ven.key.pub" app1:1 2>"$T/err"; then fail "an unsigned manifest accepted"; fi
ok "a declared dlopen plugin loads from the store, an undeclared one fails; compat mode; signed link.json"

# --- publish, pull, run: the objects travel as Archon content --------------
# The device's store is $D: the publisher links for its prefix.
D=$T/dev
for a in 1 2; do
	ar link --name "papp$a:1" --prefix "$D/cal" --key "$T/ven.key" -L "$W" -L "$W/v$a" app >/dev/null
	ar publish "papp$a:1" --to "$T/origin" --key "$T/ven.key" -q >/dev/null
done
ar link --name pother:1 --prefix "$D/cal" --key "$T/ven.key" -L "$W" -L "$W/v1" other >/dev/null
ar publish pother:1 --to "$T/origin" --key "$T/ven.key" -q >/dev/null
if ar run papp1:1 2>"$T/err"; then fail "a prefix mismatch ran"; fi
grep -q "was linked for the prefix $D/cal" "$T/err" || fail "prefix: $(cat "$T/err")"
"$ARCHON" --store "$D" remote set "file://$T/origin"
"$ARCHON" --store "$D" pull papp1:1 --publisher-key "$T/ven.key.pub" -q >"$T/p1.out"
"$ARCHON" --store "$D" pull papp2:1 --publisher-key "$T/ven.key.pub" -q >"$T/p2.out"
cat "$T/p1.out" "$T/p2.out" >"$T/pulls.log"
expect_eq "pulled app1 runs" "$("$ARCHON" --store "$D" run --publisher-key "$T/ven.key.pub" papp1:1)" foo-v1
expect_eq "run pulls a missing app" "$("$ARCHON" --store "$D" run --publisher-key "$T/ven.key.pub" pother:1)" "other foo-v1"
expect_eq "pulled app2 runs" "$("$ARCHON" --store "$D" run papp2:1)" foo-v2
n=$(find "$D/objects" -type f -samefile "$D/cal/$bar1" | wc -l)
expect_eq "device objects holding libbar" "$n" 1
ok "linked versions publish, pull and run (run pulls what is missing); a store at another prefix is refused by name"

# --- gc keeps what a kept library holds -------------------------------------
# Three builds of a library with a 64 KiB table share most chunks; when gc
# drops the oldest, the chunks the kept one holds must stay known, or the
# next update fetches them again (it did: 260 KB instead of 7 KB).
python3 -c '
import random
r = random.Random(7)
print("const unsigned char big_table[65536] = {" + ",".join(str(r.randrange(256)) for _ in range(65536)) + "};")' >table.c
gcc -c -fPIC -O2 -o table.o table.c
for v in 1 2 3; do
	mkdir -p "big$v"
	printf 'extern const unsigned char big_table[];\nint big(int x){return x * %d + big_table[x & 255];}\nconst char *foo_version(void){return "big-%d";}\n' "$v" "$v" >big.c
	gcc -shared -fPIC -O2 -Wl,-soname,libfoo.so.1 -o "big$v/libfoo.so.1" big.c table.o
	ar link --name "gcapp:$v" --prefix "$T/g/cal" -L "$W" -L "$W/big$v" app >/dev/null
	ar publish "gcapp:$v" --to "$T/origin" -q >/dev/null
done
pulled() { sed -n 's/^pulled .*: \([0-9]*\) bytes.*/\1/p'; }
g() { "$ARCHON" --store "$T/$1" pull "file://$T/origin" "$2" --insecure -q 2>/dev/null; }
g g1 gcapp:1 >/dev/null
g g1 gcapp:2 >/dev/null
"$ARCHON" --store "$T/g1" gc --keep 1 >/dev/null
after_gc=$(g g1 gcapp:3 | pulled)
g g2 gcapp:2 >/dev/null
no_gc=$(g g2 gcapp:3 | pulled)
expect_eq "bytes of an update after gc dropped the old library" "$after_gc" "$no_gc"
[ "$after_gc" -lt 32768 ] || fail "the update fetched the library again: $after_gc bytes"
"$ARCHON" --store "$T/g1" verify >/dev/null || fail "verify after gc"
ok "after gc drops a library's old build, an update fetches no chunk the kept build holds ($after_gc bytes)"
