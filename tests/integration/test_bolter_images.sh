#!/usr/bin/env bash
# bolter's docker-like verbs on Archon: pull an OCI layout into a private
# store, run it (foreground and detached), ps, logs, stop, rm; the
# container writes to its own layer, never to the store's files.
. "$(dirname "$0")/../bolter/lib.sh"
: "${ARCHON:?run through ctest (ARCHON=path/to/archon)}"
export ARCHON ARCHON_STORE=$T/store BOLTER_DATA=$T/data
images_cleanup() {
	"${BO[@]}" rm -f $(ls "$T/data/containers" 2>/dev/null) >/dev/null 2>&1 || true
	bolter_cleanup
}
trap images_cleanup EXIT

"$HERE/mkbundle.sh" --layout "$T/layout" "$T/b" true >/dev/null
"${BO[@]}" pull "oci:$T/layout:latest" bb:1 >"$T/pull.out"
grep -q "bb:1" "$T/pull.out" || fail "pull: $(cat "$T/pull.out")"
"${BO[@]}" images | grep -q '^bb:1 ' || fail "images does not list bb:1"
ok "pull and images"

set +e
out=$(cd "$T" && "${BO[@]}" run --name c1 bb:1 sh -c 'echo hi > /bin/busybox-note; cat /bin/busybox-note; echo x >> /etc/passwd; exit 4')
rc=$?
set -e
expect_eq "run IMAGE: output" "$out" hi
expect_eq "run IMAGE: exit code" "$rc" 4
"$ARCHON" verify >/dev/null || fail "the container's writes reached the store"
ok "writes go to the container's layer, the store verifies"

name=$("${BO[@]}" run -d --name c2 bb:1 sh -c 'echo detached-out; trap "exit 0" TERM; while :; do sleep 0.1; done')
expect_eq "run -d prints the name" "$name" c2
for _ in $(seq 50); do grep -q detached-out <<<"$("${BO[@]}" logs c2)" && break; sleep 0.1; done
grep -q detached-out <<<"$("${BO[@]}" logs c2)" || fail "logs c2"
ok "logs"
"${BO[@]}" ps | grep -Eq '^c2 +bb:1 +running' || fail "ps: $("${BO[@]}" ps)"
"${BO[@]}" ps -a | grep -Eq "^c1 +bb:1 +stopped" || fail "ps -a: $("${BO[@]}" ps -a)"
! "${BO[@]}" ps | grep -q "^c1 " || fail "ps shows the stopped c1"
ok "ps"
if "${BO[@]}" rm c2 2>/dev/null; then fail "rm of a running container succeeded"; fi
"${BO[@]}" stop -t 5 c2 >/dev/null
"${BO[@]}" ps -a | grep -Eq "^c2 +bb:1 +stopped" || fail "stop: $("${BO[@]}" ps -a)"
ok "stop"
"${BO[@]}" rm c1 c2 >/dev/null
[ -z "$(ls "$T/data/containers")" ] || fail "rm left $(ls "$T/data/containers")"
! findmnt -rn -o TARGET | grep -q "^$T/data" || fail "rm left a mount"
ok "rm"
set +e
out=$(cd "$T" && printf 'echo in-$((2+3)); tty; exit 5\n' | timeout 20 "${BO[@]}" run -it --name c3 bb:1 sh | tr -d '\r')
rc=$?
set -e
expect_eq "run -it IMAGE: exit code" "$rc" 5
grep -q "^in-5$" <<<"$out" && grep -q "^/dev/pts/0$" <<<"$out" || fail "run -it IMAGE: $out"
ok "run -it IMAGE: a shell on the container's terminal"
"${BO[@]}" run -t -d bb:1 true 2>"$T/err" && fail "run -t -d was accepted"
grep -q "needs a console" "$T/err" || fail "run -t -d: $(cat "$T/err")"
"${BO[@]}" rm c3 >/dev/null
if "${BO[@]}" run nosuch:1 true 2>"$T/err"; then fail "run of a missing image succeeded"; fi
grep -q "no version nosuch:1" "$T/err" || fail "missing image: $(cat "$T/err")"
ok "a missing image is named"
