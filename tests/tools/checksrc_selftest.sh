#!/bin/bash
# scripts/checksrc catches what it claims to: a file planted with one
# violation of each rule must be reported, rule by rule, with exit 1; a
# clean file passes.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

cat >"$T/good.h" <<'X'
/* What this header is for. */
#ifndef GOOD_H
#define GOOD_H
static const char *url = "http://example.com/a//b"; /* // in a string */
#endif
X
if ! out=$("$src/scripts/checksrc" "$T/good.h"); then
	echo "clean file reported: $out"
	fail=1
fi

printf '%s\n' \
	'int x; ' \
	'        int y;' \
	'int z; // note' \
	'void f(char *d) { strcpy(d, "a"); sprintf(d, "%d", atoi(d)); }' \
	"int long_line_$(printf 'a%.0s' $(seq 1 100));" >"$T/bad.h"
out=$("$src/scripts/checksrc" "$T/bad.h")
rc=$?
[ "$rc" -eq 1 ] || { echo "exit $rc, want 1"; fail=1; }
for want in ':1: TRAILINGSPACE' ':2: TABINDENT' ':3: CPPCOMMENT' \
	':4: BANNEDFUNC: strcpy' ':4: BANNEDFUNC: sprintf' \
	':4: BANNEDFUNC: atoi' ':5: LONGLINE' ':1: HEADERGUARD' \
	':1: HEADERDOC'; do
	grep -qF -- "$want" <<<"$out" || { echo "missing '$want' in:"; echo "$out"; fail=1; }
done
exit $fail
