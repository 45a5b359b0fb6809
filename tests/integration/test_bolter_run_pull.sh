#!/usr/bin/env bash
# bolter run REPO:TAG of an image the store lacks pulls it first, as the
# whitepaper's transcript shows: a busybox image published (signed) to a
# folder served over HTTP on 127.0.0.1; `bolter run --origin URL` prints
# the phases (the index, the shards, where they come from, the index and
# version ids) one line each, then the container's output; a second run
# pulls nothing.  The origin also comes from $BOLTER_ORIGIN or the store's
# (archon remote set); without one, or without a publisher key, nothing is
# pulled and the error says how to give one.  archon pull --reserve larger
# than the disk refuses, leaving the store as it was.
. "$(dirname "$0")/../bolter/lib.sh"
: "${ARCHON:?run through ctest}" "${CARRIER:?run through ctest}"
export ARCHON ARCHON_STORE=$T/store BOLTER_DATA=$T/data
unset BOLTER_ORIGIN ARCHON_PUBLISHER_KEY ARCHON_RING
SRV=
run_pull_cleanup() {
	local rc=$?
	[ -z "$SRV" ] || { kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null || true; }
	"${BO[@]}" rm -f $(ls "$T/data/containers" 2>/dev/null) >/dev/null 2>&1 || true
	(exit "$rc")
	bolter_cleanup
}
trap run_pull_cleanup EXIT

# The publisher: acme/bb:1 (busybox) and acme/bb:2 (one file more), signed.
"$HERE/mkbundle.sh" --layout "$T/layout" "$T/b" true >/dev/null
P=$T/pub
"$CARRIER" keygen --type vendor -o "$T/ven.key" >/dev/null
"$ARCHON" --store "$P" import "oci:$T/layout:latest" acme/bb:1 >/dev/null
echo two >"$T/b/rootfs/etc/version"
"$ARCHON" --store "$P" import "$T/b/rootfs" acme/bb:2 >/dev/null
for v in 1 2; do
	"$ARCHON" --store "$P" publish acme/bb:$v --to "$T/www" --key "$T/ven.key" >/dev/null ||
		fail "publish acme/bb:$v"
done
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$port" >"$T/http.log" 2>&1 &
SRV=$!
URL=http://127.0.0.1:$port
for _ in $(seq 100); do
	python3 -c "import urllib.request as u; u.urlopen('$URL/refs/acme/bb/1')" 2>/dev/null && break
	sleep 0.1
done
requests() { grep -c '"GET ' "$T/http.log" || true; }
[ "$(requests)" -ge 1 ] || fail "the origin does not answer on $URL"

# No origin: nothing pulled, the error says how to give one.
if "${BO[@]}" run --rm acme/bb:1 echo hi >"$T/out" 2>"$T/err"; then fail "run without an origin succeeded"; fi
grep -q "no version acme/bb:1 in the store, and no origin" "$T/err" || fail "no origin: $(cat "$T/err")"
grep -q -- "--origin URL" "$T/err" || fail "no origin: the error does not say how: $(cat "$T/err")"
# An origin but no publisher key: archon refuses before fetching anything.
n0=$(requests)
if "${BO[@]}" run --rm --origin "$URL" acme/bb:1 echo hi >"$T/out" 2>"$T/err"; then
	fail "run pulled without a publisher key"
fi
grep -q "no trusted publisher key" "$T/err" || fail "no key: $(cat "$T/err")"
[ "$(requests)" -eq "$n0" ] || fail "a pull without a key fetched from the origin"
if "$ARCHON" ls | grep -q acme/bb; then fail "a refused pull left a version"; fi
ok "no origin, no publisher key: refused, saying how"

# The pull as the whitepaper shows it, then the container's output.
"${BO[@]}" run --rm --origin "$URL" --publisher-key "$T/ven.key.pub" acme/bb:1 echo hi \
	>"$T/out" 2>"$T/err" || fail "run with pull: $(cat "$T/out" "$T/err")"
cat "$T/out"
index=$("$ARCHON" --store "$P" show --json acme/bb:1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["index"])')
version=$(b2sum -l 256 "$T/www/refs/acme/bb/1" | cut -d' ' -f1)
expected=$(printf '%s\n' "receiving archon index .. complete" SHARDS \
	"receiving shards from the origin" " $index" " $version" hi)
got=$(sed -E '2s/^[0-9]+ shards with [0-9.]+ (B|KiB|MiB) \(downloading [0-9]+ new shards with [0-9.]+ (B|KiB|MiB)\)$/SHARDS/' "$T/out")
[ "$got" = "$expected" ] || fail "phases: expected
$expected
got
$(cat "$T/out")"
read -r total _ _ _ _ _ new _ < <(sed -n 2p "$T/out" | tr -d '(')
[ "$total" -gt 10 ] && [ "$new" = "$total" ] || fail "an empty store downloads every shard: $(sed -n 2p "$T/out")"
# Not a terminal: no progress line.
! grep -q "pull: fetching" "$T/err" || fail "progress when stderr is no terminal: $(cat "$T/err")"
"$ARCHON" verify >/dev/null || fail "the pulled store does not verify"
ok "run of a missing image: phases, ids, then the container ran"

# Again: the image is there, nothing is pulled or printed but the output.
n0=$(requests)
out=$("${BO[@]}" run --rm --origin "$URL" --publisher-key "$T/ven.key.pub" acme/bb:1 echo hi) ||
	fail "second run"
[ "$out" = hi ] || fail "second run printed more than the output: $out"
[ "$(requests)" -eq "$n0" ] || fail "the second run fetched from the origin"
ok "second run: nothing pulled"

# The origin from $BOLTER_ORIGIN, and from the store (archon remote), in
# fresh stores; the key from $ARCHON_PUBLISHER_KEY.
export ARCHON_PUBLISHER_KEY=$T/ven.key.pub
out=$(ARCHON_STORE=$T/store2 BOLTER_ORIGIN=$URL "${BO[@]}" run --rm acme/bb:1 echo env) ||
	fail "run with \$BOLTER_ORIGIN"
grep -q "^receiving archon index .. complete$" <<<"$out" && [ "$(tail -n1 <<<"$out")" = env ] ||
	fail "run with \$BOLTER_ORIGIN: $out"
"$ARCHON" --store "$T/store3" remote set "$URL" || fail "archon remote set"
[ "$("$ARCHON" --store "$T/store3" remote)" = "$URL" ] || fail "archon remote does not print it"
out=$(ARCHON_STORE=$T/store3 "${BO[@]}" run --rm acme/bb:1 echo remote) || fail "run with the store's origin"
grep -q "^receiving shards from the origin$" <<<"$out" && [ "$(tail -n1 <<<"$out")" = remote ] ||
	fail "run with the store's origin: $out"
ok "the origin from \$BOLTER_ORIGIN and from archon remote"

# archon pull --reserve: a reserve no disk has is refused, the store as it was.
before_ls=$("$ARCHON" ls)
before_files=$(cd "$ARCHON_STORE" && find . ! -name archon.mdb ! -name lock -printf '%p %s\n' | sort)
if "$ARCHON" pull --reserve 1000000000G "$URL" acme/bb:2 >"$T/out" 2>"$T/err"; then
	fail "a pull with a reserve larger than the disk went through"
fi
grep -q "must stay free" "$T/err" || fail "reserve: $(cat "$T/err")"
[ "$("$ARCHON" ls)" = "$before_ls" ] || fail "a refused pull changed archon ls"
after_files=$(cd "$ARCHON_STORE" && find . ! -name archon.mdb ! -name lock -printf '%p %s\n' | sort)
[ "$after_files" = "$before_files" ] || fail "a refused pull changed the store's files:
$(diff <(echo "$before_files") <(echo "$after_files"))"
"$ARCHON" pull --phases --reserve 1M "$URL" acme/bb:2 >"$T/out" || fail "pull acme/bb:2"
grep -Eq "^[0-9]+ shards with .*\(downloading 1 new shards with 4 B\)$" "$T/out" ||
	fail "acme/bb:2 over acme/bb:1: $(cat "$T/out")"
ok "pull --reserve: refused, the store untouched; a reserve the disk has: one new shard"
