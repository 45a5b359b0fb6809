#!/usr/bin/env bash
# The vendor's fleet tools (docs/fleet.md): `carrier trust` and `carrier
# release`.  A trust root of 2-of-3 root keys is valid only once two root
# keys signed it; a release of a tiny Archon image published over HTTP
# pins the manifest's index id (the one `archon show --json` gives) and
# says "1 of 2 release signatures" until a second release key signs;
# keys of the wrong role, a tampered release, an unknown architecture, a
# missing manifest are refused with their reason; a rotation to a new
# root is valid only with a threshold of the old root's signatures too.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"

for k in root1 root2 root3 rel1 rel2 rel3 roll1 new1 new2; do
	vendor "$k" >/dev/null
done
device dev >/dev/null

# expect CODE PATTERN CMD...: CMD exits CODE and its stderr or stdout
# says PATTERN.
expect() {
	local code=$1 pat=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>&1 || rc=$?
	[ "$rc" -eq "$code" ] || fail "$*: exit $rc, not $code: $(cat "$T/out")"
	grep -qF -- "$pat" "$T/out" || fail "$*: does not say '$pat': $(cat "$T/out")"
}
json() { # json FILE KEY: a top-level field of a JSON object
	python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"
}

# A tiny image, published to a folder that an HTTP server serves.
mkdir -p "$T/img/bin" "$T/www"
printf '#!/bin/sh\necho v1\n' >"$T/img/bin/app"
"$ARCHON" --store "$T/store" import "$T/img" acme/web:1 >/dev/null
"$ARCHON" --store "$T/store" publish acme/web:1 --to "$T/www" >/dev/null
start_www
"$ARCHON" --store "$T/store" show --json acme/web:1 >"$T/show.json"
index=$(json "$T/show.json" index)
[ ${#index} -eq 64 ] || fail "archon show --json gave no index: $(cat "$T/show.json")"

# ---- a trust root, 2 of 3 root keys --------------------------------------
R=(--release "$T/rel1.key.pub" --release "$T/rel2.key.pub" --release "$T/rel3.key.pub"
	--release-threshold 2 --rollout "$T/roll1.key.pub")
expect 0 "not yet valid: trust root v1: 1 of 2 root signatures" \
	"$CARRIER" trust init --root "$T/root1.key" --root "$T/root2.key.pub" \
	--root "$T/root3.key.pub" --root-threshold 2 "${R[@]}" -o "$T/trust"
expect 0 "not valid: trust root v1: 1 of 2 root signatures" "$CARRIER" trust show "$T/trust"
expect 1 "is not a root key of trust root v1" \
	"$CARRIER" trust sign "$T/trust" --key "$T/rel1.key"
expect 0 "valid" "$CARRIER" trust sign "$T/trust" --key "$T/root3.key"
grep -q "^valid$" "$T/out" || fail "trust sign: $(cat "$T/out")"
"$CARRIER" trust show "$T/trust" --json >"$T/trust.json"
[ "$(json "$T/trust.json" valid)" = true ] || fail "trust show --json: $(cat "$T/trust.json")"
[ "$(json "$T/trust.json" version)" = 1 ] || fail "trust show --json: $(cat "$T/trust.json")"
expect 1 "already signed" "$CARRIER" trust sign "$T/trust" --key "$T/root3.key"
expect 1 "refusing to overwrite" "$CARRIER" trust init --root "$T/root1.key" "${R[@]}" -o "$T/trust"
expect 1 "is a device key, not a vendor key" \
	"$CARRIER" trust init --root "$T/root1.key" --release "$T/dev.key.pub" \
	--rollout "$T/roll1.key.pub" -o "$T/trust-x"
expect 2 "threshold is above" \
	"$CARRIER" trust init --root "$T/root1.key" --root-threshold 2 "${R[@]}" -o "$T/trust-x"
ok "trust init 2 of 3: valid only once two root keys signed; wrong keys refused"

# ---- a release: 1 of 2, then 2 of 2 --------------------------------------
URL=http://127.0.0.1:$http_port
REL=(--counter 3 --arch amd64,armel --port 8080 --health http:8080/healthz --env MODE=prod)
expect 0 "not yet valid: release: 1 of 2 release signatures" \
	"$CARRIER" release web:1.0 --image "$URL" acme/web:1 "${REL[@]}" \
	--key "$T/rel1.key" --trust "$T/trust" -o "$T/rel" -- /bin/app --serve
expect 0 "not valid: release: 1 of 2 release signatures" \
	"$CARRIER" release show "$T/rel" --trust "$T/trust"
"$CARRIER" release show "$T/rel" --trust "$T/trust" --json >"$T/rel.json"
[ "$(json "$T/rel.json" index)" = "$index" ] ||
	fail "the release pins index $(json "$T/rel.json" index), archon show says $index"
[ "$(json "$T/rel.json" valid)" = false ] || fail "release show --json: $(cat "$T/rel.json")"
python3 - "$T/rel.json" <<'PY' || fail "release show --json: $(cat "$T/rel.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["app"] == "web" and r["version"] == "1.0" and r["counter"] == 3, r
assert r["arch"] == ["amd64", "armel"] and r["image"] == "acme/web:1", r
assert r["args"] == ["/bin/app", "--serve"] and r["env"] == ["MODE=prod"], r
assert r["ports"] == [8080] and r["health"] == "http:8080/healthz", r
assert r["reason"] == "release: 1 of 2 release signatures (release web 1.0, trust root v1)", r
PY
expect 1 "already signed" "$CARRIER" release sign "$T/rel" --key "$T/rel1.key"
root1_id=$("$CARRIER" id "$T/root1.key.pub")
expect 1 "release key $root1_id is not a release key of trust root v1" \
	"$CARRIER" release sign "$T/rel" --key "$T/root1.key" --trust "$T/trust"
expect 1 "is not a release key of trust root v1" \
	"$CARRIER" release web:1.0 --image "$URL" acme/web:1 "${REL[@]}" \
	--key "$T/roll1.key" --trust "$T/trust" -o "$T/rel-x"
[ ! -e "$T/rel-x" ] || fail "a refused release was written"
expect 0 "valid against trust root v1" \
	"$CARRIER" release sign "$T/rel" --key "$T/rel3.key" --trust "$T/trust"
expect 0 "valid: 2 of 2 release signatures of trust root v1" \
	"$CARRIER" release show "$T/rel" --trust "$T/trust"
ok "release: 1 of 2 until a second release key signs; its index is archon show's"

# Offline, from the published folder (a path, and a file:// URL): the
# same pins.
"$CARRIER" release web:1.0 --image "$T/www" acme/web:1 "${REL[@]}" --key "$T/rel2.key" \
	-o "$T/rel-off" >/dev/null || fail "release from the published folder"
"$CARRIER" release web:1.0 --image "file://$T/www/" acme/web:1 "${REL[@]}" --key "$T/rel2.key" \
	--origin "$URL" -o "$T/rel-file" >/dev/null || fail "release from a file:// URL"
for f in rel-off rel-file; do
	"$CARRIER" release show "$T/$f" --json >"$T/$f.json"
	[ "$(json "$T/$f.json" index)" = "$index" ] || fail "$f pins another index"
	[ "$(json "$T/$f.json" config_digest)" = "$(json "$T/rel.json" config_digest)" ] ||
		fail "$f pins another config digest"
done
grep -qF "\"origins\":[\"$URL\"]" "$T/rel-file.json" || fail "--origin: $(cat "$T/rel-file.json")"
ok "offline signing from the published folder pins the same index and config"

# ---- refusals --------------------------------------------------------------
# One byte of the pinned index id changed in the file: no signature holds.
python3 - "$T/rel" "$T/rel-bad" "$index" <<'PY'
import base64, sys
lines = open(sys.argv[1]).read().splitlines()
out = []
for l in lines:
    if l.startswith("korhal-release-v1 "):
        b = bytearray(base64.b64decode(l.split()[1]))
        i = bytes(b).find(bytes.fromhex(sys.argv[3]))
        assert i >= 0
        b[i + 7] ^= 1
        l = "korhal-release-v1 " + base64.b64encode(bytes(b)).decode()
    out.append(l)
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
expect 1 "does not verify" "$CARRIER" release show "$T/rel-bad" --trust "$T/trust"
expect 2 "unknown architecture 'x86_64'" \
	"$CARRIER" release web:1.0 --image "$URL" acme/web:1 --counter 3 --arch amd64,x86_64 \
	--key "$T/rel1.key" -o "$T/rel-x"
expect 2 "not APP:VERSION" \
	"$CARRIER" release web --image "$URL" acme/web:1 --counter 3 --arch amd64 \
	--key "$T/rel1.key" -o "$T/rel-x"
expect 2 "health probe 'udp:53'" \
	"$CARRIER" release web:1.0 --image "$URL" acme/web:1 --counter 3 --arch amd64 \
	--health udp:53 --key "$T/rel1.key" -o "$T/rel-x"
expect 1 "HTTP 404" \
	"$CARRIER" release web:9 --image "$URL" acme/web:9 --counter 3 --arch amd64 \
	--key "$T/rel1.key" -o "$T/rel-x"
[ ! -e "$T/rel-x" ] || fail "a refused release was written"
ok "refused: a tampered release, an unknown architecture, a bad probe, a missing manifest"

# ---- rotation: v2 needs 2 of its own root keys and 2 of v1's ---------------
expect 0 "trust root v2" \
	"$CARRIER" trust init --root "$T/new1.key" --root "$T/new2.key.pub" --root-threshold 2 \
	"${R[@]}" --previous "$T/trust" -o "$T/trust2"
expect 0 "not valid: trust root v2: 1 of 2 root signatures" \
	"$CARRIER" trust show "$T/trust2" --previous "$T/trust"
"$CARRIER" trust sign "$T/trust2" --key "$T/new2.key" >/dev/null || fail "trust sign new2"
expect 0 "not valid: trust root v2: 0 of 2 signatures of the previous root v1" \
	"$CARRIER" trust show "$T/trust2" --previous "$T/trust"
expect 1 "a key of the previous root signs with --previous" \
	"$CARRIER" trust sign "$T/trust2" --key "$T/root1.key"
"$CARRIER" trust sign "$T/trust2" --key "$T/root1.key" --previous "$T/trust" >/dev/null ||
	fail "trust sign --previous root1"
expect 0 "not valid: trust root v2: 1 of 2 signatures of the previous root v1" \
	"$CARRIER" trust show "$T/trust2" --previous "$T/trust"
expect 0 "valid as a rotation" \
	"$CARRIER" trust sign "$T/trust2" --key "$T/root2.key" --previous "$T/trust"
expect 0 "valid as a rotation" "$CARRIER" trust show "$T/trust2" --previous "$T/trust"
expect 0 "also signed by" "$CARRIER" trust show "$T/trust2" --previous "$T/trust"
# The release keys did not change: the release is valid under v2 too.
expect 0 "valid: 2 of 2 release signatures of trust root v2" \
	"$CARRIER" release show "$T/rel" --trust "$T/trust2"
# Going back is refused: v1 is not above v2, and --version must rise.
expect 0 "not valid: trust root v1 is not newer than the current v2" \
	"$CARRIER" trust show "$T/trust" --previous "$T/trust2"
expect 2 "is not above the previous root's v1" \
	"$CARRIER" trust init --root "$T/new1.key" "${R[@]}" --version 1 --previous "$T/trust" \
	-o "$T/trust-x"
ok "rotation: valid only with 2 of v2's and 2 of v1's root signatures; no way back"
