#!/usr/bin/env bash
# Devices serve each other with their own keys (docs/fleet.md, "Fleet
# credentials"): the provider's agent runs with the vendor's trust root
# (--trust) and lets fleet peers reach only its serve port (--serve-port,
# where the agent serves its apps' store itself), with no vendor allowed
# at all; the puller, a device whose own agent stays attached meanwhile,
# pulls the version through the provider with its device key and a fleet
# credential the rollout key signed.  Without the credential the peer is not reachable; a credential
# signed by a key that is not a rollout key of the provider's trust root,
# another port, and a provider without --trust are refused with their
# reason; the vendor (not allowed) is refused too.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"

mkdir -p "$T/app/lib" "$T/www"
head -c 600000 /dev/urandom >"$T/app/lib/libfoo.so"
head -c 300000 /dev/urandom >"$T/app/lib/libbar.so"
"$CARRIER" keygen --type vendor -o "$T/pub.key" >/dev/null
"$ARCHON" --store "$T/pub" import "$T/app" acme/app:1 >/dev/null
"$ARCHON" --store "$T/pub" publish acme/app:1 --to "$T/www" --key "$T/pub.key" >/dev/null ||
	fail "publish"
export ARCHON_PUBLISHER_KEY=$T/pub.key.pub
start_www
URL=http://127.0.0.1:$http_port
make_ring 1
start_node 0 --cache-origins "$URL"
wait_until 10 curl -s -o /dev/null "http://${NODE_ADDR[0]}/archon/v1/" || fail "shard cache not up"

# The vendor's trust root: root, release and rollout keys.
for k in root rel roll ven; do vendor "$k" >/dev/null; done
export CARRIER_KEY=$T/ven.key # lookups only: the devices do not allow it
"$CARRIER" trust init --root "$T/root.key" --release "$T/rel.key.pub" \
	--rollout "$T/roll.key.pub" -o "$T/trust" >/dev/null || fail "trust init"

# expect CODE PATTERN CMD...: CMD exits CODE and says PATTERN.
expect() {
	local code=$1 pat=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>&1 </dev/null || rc=$?
	[ "$rc" -eq "$code" ] || fail "$*: exit $rc, not $code: $(cat "$T/out")"
	grep -qF -- "$pat" "$T/out" || fail "$*: does not say '$pat': $(cat "$T/out")"
}

# The provider: no --allow at all, fleet peers on its serve port only.
prov_id=$(device prov)
pull_id=$(device puller)
other_id=$(device other)
sport=$(free_port)
oport=$(free_port)
start_agent prov --trust "$T/trust" --serve-port "$sport" --keepalive 1s
start_agent puller --keepalive 1s
start_agent other --keepalive 1s
for d in "$prov_id" "$pull_id" "$other_id"; do
	wait_until 10 online "$d" || fail "device $d never attached"
done
# The provider's agent serves its apps' store on its serve port itself
# (docs/agent-apps.md): a version pulled into that store beside it is
# announced within seconds.
wait_until 10 grep -q "serve: serving .* on 127.0.0.1:$sport" "$T/prov.log" ||
	fail "the provider's agent does not serve on $sport"
"$ARCHON" --store "$T/prov.d/archon" pull "$URL" acme/app:1 >/dev/null || fail "provider's pull"
idx=$("$ARCHON" --store "$T/pub" show acme/app:1 | grep -o '[0-9a-f]\{64\}' | head -1)
wait_until 10 sh -c "curl -sf http://${NODE_ADDR[0]}/archon/v1/providers/$idx | grep -q ." ||
	fail "no provider record on the shard node"

# The puller's credential, signed by the rollout key.
expect 1 "is not a rollout key of trust root v1" \
	"$CARRIER" fleet credential "$pull_id" --trust "$T/trust" --key "$T/rel.key" -o "$T/x.cred"
expect 0 "fleet credential of $pull_id" \
	"$CARRIER" fleet credential "$pull_id" --trust "$T/trust" --key "$T/roll.key" -o "$T/pull.cred"

# Without the credential the puller (no vendor key) reaches no peer: the
# pull still completes from the ring and the origin.
out=$("$ARCHON" --store "$T/nocred" pull "$URL" acme/app:1 --ring "$T/ring" --peers \
	--carrier "$CARRIER" --key "$T/puller.key") || fail "pull without credential"
grep -q "^1 peers hold this version, 0 reachable" <<<"$out" || fail "without a credential: $out"

# With it: everything but the manifest from the peer.
out=$("$ARCHON" --store "$T/puller-store" pull "$URL" acme/app:1 --ring "$T/ring" --peers \
	--carrier "$CARRIER" --key "$T/puller.key" --credential "$T/pull.cred") ||
	fail "pull through the fleet peer"
echo "$out"
grep -q "^1 peers hold this version, 1 reachable" <<<"$out" || fail "peer not reached: $out"
peer=$(sed -n 's/^sources: \([0-9]*\) bytes from peers.*/\1/p' <<<"$out")
[ "${peer:-0}" -gt 900000 ] || fail "only ${peer:-0} bytes came from the peer"
"$ARCHON" --store "$T/puller-store" verify >/dev/null || fail "puller's store does not verify"
"$ARCHON" --store "$T/puller-store" checkout acme/app:1 "$T/co"
diff -r "$T/app" "$T/co" || fail "checkout differs from the source"
# The puller's own agent stayed attached beside its pull's sessions.
online "$pull_id" || fail "the puller's agent lost its place on the ring"
grep -q "connected" "$T/prov.log" || fail "the provider's log shows no peer"
ok "a device pulled through a fleet peer with its own key and a fleet credential"

# Refusals, each with its reason.
expect 5 "not allowed" \
	"$CARRIER" connect "$prov_id" "$oport" --key "$T/puller.key" --credential "$T/pull.cred"
expect 4 "serves no fleet peers" \
	"$CARRIER" connect "$other_id" "$sport" --key "$T/puller.key" --credential "$T/pull.cred"
# A credential signed under another trust root, by a key that is no
# rollout key of the provider's.
"$CARRIER" trust init --root "$T/root.key" --release "$T/rel.key.pub" \
	--rollout "$T/rel.key.pub" -o "$T/trust-other" >/dev/null || fail "trust init other"
"$CARRIER" fleet credential "$pull_id" --trust "$T/trust-other" --key "$T/rel.key" \
	-o "$T/bad.cred" >/dev/null || fail "credential under the other root"
expect 4 "0 of 1 rollout signatures of trust root v1" \
	"$CARRIER" connect "$prov_id" "$sport" --key "$T/puller.key" --credential "$T/bad.cred"
# Someone else's credential is refused before any datagram.
expect 1 "is the fleet credential of $pull_id, not of this key's $other_id" \
	"$CARRIER" connect "$prov_id" "$sport" --key "$T/other.key" --credential "$T/pull.cred"
# The vendor itself is not allowed on this device.
expect 4 "not authorized" "$CARRIER" connect "$prov_id" "$sport" --key "$T/ven.key"
ok "refused: another port, a device serving no peers, a foreign credential, the vendor"
