#!/usr/bin/env bash
# Linked applications in Bolter containers (docs/linking.md): bolter run
# bind-mounts the store's cal/ read-only at the same path, so an image
# made of a linked app alone (link.json and its objects, no /lib) runs.
# A declared dlopen plugin loads from the store; undeclared ones fail, from
# the executable and from inside a library, although the library's dlopen
# finds the host's copy outside the container.
. "$(dirname "$0")/../bolter/lib.sh"
: "${ARCHON:?run through ctest (ARCHON=path/to/archon)}"
"$ARCHON" link --help >/dev/null 2>&1 || { echo "SKIP: archon built without link (libelf)"; exit 77; }
command -v gcc >/dev/null || { echo "SKIP: no gcc"; exit 77; }
export ARCHON ARCHON_STORE=$T/store BOLTER_DATA=$T/data
link_cleanup() {
	local rc=$?
	"${BO[@]}" rm -f $(ls "$T/data/containers" 2>/dev/null) >/dev/null 2>&1 || true
	(exit "$rc")
	bolter_cleanup
}
trap link_cleanup EXIT
P=$T/store/cal
W=$T/src
mkdir -p "$W/plug"
cd "$W"
printf 'const char *plug(void){return "plugin from the store";}\n' >plug.c
gcc -shared -fPIC -Wl,-soname,libplug.so -o plug/libplug.so plug.c
cat >loader.c <<'EOF'
#include <dlfcn.h>
#include <stddef.h>
/* A dlopen made inside a library: the executable's search rules do not
 * apply to it. */
int lib_can_load(const char *name) { return dlopen(name, RTLD_NOW) != NULL; }
EOF
gcc -shared -fPIC -Wl,-soname,libloader.so -o plug/libloader.so loader.c -ldl
cat >dl.c <<'EOF'
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
int lib_can_load(const char *name);
int main(int argc, char **argv)
{
	const char *(*f)(void);
	void *h;

	if (argc > 2 && strcmp(argv[1], "via-lib") == 0) {
		printf("library dlopen %s: %s\n", argv[2], lib_can_load(argv[2]) ? "loaded" : "failed");
		return 0;
	}
	h = dlopen(argv[1], RTLD_NOW);
	if (h == NULL) {
		printf("dlopen %s failed\n", argv[1]);
		return 0;
	}
	f = (const char *(*)(void))dlsym(h, "plug");
	puts(f ? f() : "loaded");
	return 0;
}
EOF
gcc -o dl dl.c -Lplug -l:libloader.so -ldl -Wl,-rpath,"$W/plug"
"$ARCHON" link --name dl:1 -L "$W/plug" --dlopen libplug.so dl >"$T/link.out" ||
	fail "link: $(cat "$T/link.out")"
exe=$(awk '/^  dl / {print $2}' "$T/link.out")
[ -x "$exe" ] || fail "no executable in: $(cat "$T/link.out")"
# A library every host has, which the app never declared.
host_lib=libz.so.1
expect_eq "outside: a library's dlopen reaches the host" \
	"$("$exe" via-lib $host_lib)" "library dlopen $host_lib: loaded"

run_in() { (cd "$T" && "${BO[@]}" run --name "$1" dl:1 "$exe" "${@:2}"); }
expect_eq "declared plugin in a container" "$(run_in c1 libplug.so)" "plugin from the store"
expect_eq "undeclared, from the executable" "$(run_in c2 $host_lib)" "dlopen $host_lib failed"
expect_eq "undeclared, from a library" "$(run_in c3 via-lib $host_lib)" "library dlopen $host_lib: failed"
spec=$(find "$T/data" -name config.json | head -1)
python3 - "$spec" "$(realpath "$P")" <<'EOF' || fail "no read-only mount of the objects in $spec"
import json, sys
m = [x for x in json.load(open(sys.argv[1]))["mounts"] if x["destination"] == sys.argv[2]]
sys.exit(0 if m and m[0]["source"] == sys.argv[2] and "ro" in m[0]["options"] else 1)
EOF
"$ARCHON" verify >/dev/null || fail "verify after the containers"
ok "a linked app alone is an image: its objects are mounted read-only, a declared plugin loads, undeclared ones fail"
