#!/usr/bin/env bash
# Archon pulls are signed by default: without a trusted publisher key a pull
# is refused (exit 2, saying how to give one or --insecure); an unsigned
# manifest and one signed by another key are refused; --insecure takes any.
# An origin serving an older signed manifest of a tag than the one held (a
# replay) is refused unless --allow-downgrade; publishing a tag again makes
# its signed creation time grow.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"
P=$T/pub W=$T/www U=$T/www-unsigned
pub() { "$ARCHON" --store "$P" "$@"; }
dev() { local s=$1; shift; "$ARCHON" --store "$T/$s" "$@"; }
held() { "$ARCHON" --store "$T/$1" ls | grep -q "^$2 "; }

mkdir -p "$T/v1" "$T/v2"
head -c 100000 /dev/urandom >"$T/v1/app"
echo one >"$T/v1/version"
cp "$T/v1/app" "$T/v2/app"; echo two >"$T/v2/version"
"$CARRIER" keygen --type vendor -o "$T/ven.key" >/dev/null
"$CARRIER" keygen --type vendor -o "$T/other.key" >/dev/null
pub import "$T/v1" acme/app:1 >/dev/null
pub publish acme/app:1 --to "$W" --key "$T/ven.key" >/dev/null || fail "signed publish"
pub publish acme/app:1 --to "$U" >/dev/null || fail "unsigned publish"
unset ARCHON_PUBLISHER_KEY

# No key at all: refused before anything is fetched.
rc=0; out=$(dev d0 pull "file://$W" acme/app:1 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "pull without a key: exit $rc, want 2: $out"
grep -q -- "--publisher-key" <<<"$out" && grep -q -- "--insecure" <<<"$out" &&
	grep -q "ARCHON_PUBLISHER_KEY" <<<"$out" || fail "pull without a key does not say how: $out"
! held d0 acme/app:1 || fail "a refused pull left a version"
ok "a pull without a publisher key is refused: $out"

rc=0; out=$(dev d1 pull "file://$U" acme/app:1 --publisher-key "$T/ven.key.pub" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "manifest is not signed" <<<"$out" || fail "unsigned manifest (exit $rc): $out"
rc=0; out=$(dev d1 pull "file://$W" acme/app:1 --publisher-key "$T/other.key.pub" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "not signed by the publisher key" <<<"$out" || fail "wrong key (exit $rc): $out"
rc=0; out=$(ARCHON_PUBLISHER_KEY=$T/other.key.pub dev d1 pull "file://$W" acme/app:1 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "not signed by the publisher key" <<<"$out" || fail "wrong key from the environment: $out"
! held d1 acme/app:1 || fail "a refused pull left a version"
ok "unsigned manifest and wrong publisher key refused"

dev d1 pull "file://$W" acme/app:1 --publisher-key "$T/ven.key.pub" >/dev/null || fail "signed pull"
ARCHON_PUBLISHER_KEY=$T/ven.key.pub dev d2 pull "file://$W" acme/app:1 >/dev/null ||
	fail "signed pull with the key from the environment"
out=$(dev d3 pull "file://$U" acme/app:1 --insecure 2>&1) || fail "--insecure pull: $out"
grep -q "warning: --insecure" <<<"$out" || fail "--insecure without a warning: $out"
dev d3 checkout acme/app:1 "$T/co3"
diff -r "$T/v1" "$T/co3" || fail "--insecure checkout differs"
ok "signed pull with the key (option or environment); --insecure takes an unsigned manifest"

# A tag published again: v1, then v2 under the same tag.  The origin then
# replays the old (validly signed) manifest.
pub import "$T/v1" acme/app:latest >/dev/null
pub publish acme/app:latest --to "$W" --key "$T/ven.key" >/dev/null
cp "$W/refs/acme/app/latest" "$T/old-manifest"
pub import "$T/v2" acme/app:latest >/dev/null 2>&1 && fail "import replaced a tag without --force"
pub import "$T/v2" acme/app:latest --force >/dev/null || fail "import --force"
pub publish acme/app:latest --to "$W" --key "$T/ven.key" >/dev/null
export ARCHON_PUBLISHER_KEY=$T/ven.key.pub
old_t=$(pub show --json acme/app:latest | python3 -c 'import json,sys; print(json.load(sys.stdin)["created"])')
dev d4 pull "file://$W" acme/app:latest >/dev/null || fail "pull of the new latest"
new_t=$(dev d4 show --json acme/app:latest | python3 -c 'import json,sys; print(json.load(sys.stdin)["created"])')
[ "$new_t" = "$old_t" ] || fail "the device holds created $new_t, the publisher $old_t"
dev d4 pull "file://$W" acme/app:latest >/dev/null || fail "pulling the same manifest again"
cp "$T/old-manifest" "$W/refs/acme/app/latest"
rc=0; out=$(dev d4 pull "file://$W" acme/app:latest 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "refusing a downgrade" <<<"$out" && grep -q -- "--allow-downgrade" <<<"$out" ||
	fail "older manifest (exit $rc): $out"
dev d4 checkout acme/app:latest "$T/co4"
diff -r "$T/v2" "$T/co4" || fail "a refused downgrade changed the version held"
ok "an older signed manifest is refused: $out"
dev d4 pull "file://$W" acme/app:latest --allow-downgrade >/dev/null || fail "--allow-downgrade"
dev d4 checkout acme/app:latest "$T/co5"
diff -r "$T/v1" "$T/co5" || fail "--allow-downgrade did not give the older version"
ok "--allow-downgrade takes the older version"
