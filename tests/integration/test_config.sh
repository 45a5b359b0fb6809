#!/usr/bin/env bash
# Fleet configuration records on the ring (docs/fleet.md "Configuration"):
# `carrier config set` signs a config of an app and every ring node stores
# it; a version not above the stored one is refused by the nodes, and a
# malformed key, a file over the limit and a key that is not a rollout key
# are refused by the CLI before anything is signed; `config history`
# lists what was signed for a device.  (Devices applying and reverting
# configs: test_config_apply.sh.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"

rollout_setup
d1=$(device d1)
vendor other >/dev/null
# The nodes check configs against the trust root a deployment pinned.
"$CARRIER" deploy "$T/web-1.0.release" --to "$d1" --waves 100 --detach >"$T/dep.out" 2>&1 ||
	fail "deploy: $(cat "$T/dep.out")"

# ---- a good config is stored ----------------------------------------------------
printf 'hello from the vendor\n' >"$T/greeting"
"$CARRIER" config set "$d1" web MODE=good "GREETING=@$T/greeting" --version 5 \
	>"$T/set.out" 2>&1 || fail "config set: $(cat "$T/set.out")"
grep -q "^config version 5 of web (2 entries, 1 devices and 0 tags targeted) signed by ven_.* and stored on the ring" \
	"$T/set.out" || fail "config set printed: $(cat "$T/set.out")"
ok "a config is signed and stored"

# ---- an older or equal version is refused by the nodes ----------------------------
for v in 4 5; do
	rc=0
	"$CARRIER" config set "$d1" web MODE=old --version "$v" >"$T/old.out" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || fail "config version $v: exit $rc: $(cat "$T/old.out")"
	grep -q "refused it: config version $v is not above the stored 5" "$T/old.out" ||
		fail "config version $v: $(cat "$T/old.out")"
done
ok "a config version not above the stored one is refused"

# ---- the CLI refuses bad input, signing nothing -----------------------------------
expect_usage() { # expect_usage MESSAGE ARGS...: exit 2 with MESSAGE
	local msg=$1 rc=0
	shift
	"$CARRIER" config set "$@" >"$T/bad.out" 2>&1 || rc=$?
	[ "$rc" -eq 2 ] || fail "config set $*: exit $rc: $(cat "$T/bad.out")"
	grep -qF "$msg" "$T/bad.out" || fail "config set $*: $(cat "$T/bad.out")"
}
expect_usage 'config key "mode-x" is malformed' "$d1" web mode-x=1 --version 9
expect_usage 'config key "1MODE" is malformed' "$d1" web 1MODE=1 --version 9
expect_usage "is not KEY=VALUE or KEY=@FILE" "$d1" web MODE --version 9
head -c 16385 /dev/zero >"$T/big"
expect_usage "config file BIG ($T/big) is 16385 bytes, more than the limit of 16384" \
	"$d1" web "BIG=@$T/big" --version 9
expect_usage "config value MODE holds a control character" "$d1" web "MODE=$(printf 'a\tb')" --version 9
rc=0
"$CARRIER" config set "$d1" web MODE=x --version 9 --key "$T/other.key" >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "is not a rollout key of trust root" "$T/bad.out" ||
	fail "a non-rollout key: exit $rc: $(cat "$T/bad.out")"
# None of them stored anything: version 6 is still above what the nodes hold.
"$CARRIER" config set "tag:site=lab" web MODE=tagged --version 3 >"$T/tag.out" 2>&1 ||
	fail "a config for a tag: $(cat "$T/tag.out")"
"$CARRIER" config set "$d1" web MODE=better --version 6 >"$T/six.out" 2>&1 ||
	fail "config version 6 after the refusals: $(cat "$T/six.out")"
ok "a malformed key, a file over the limit, a control character and a foreign key are refused"

# ---- get and history: what this machine signed, what the device reports ------------
# d1 runs no agent here: no health record says what it runs
# (test_config_apply.sh has real agents applying and reverting configs).
rc=0
"$CARRIER" config get "$d1" web >"$T/get.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "reports no app web (no health record on the ring of it)" "$T/get.out" ||
	fail "config get: exit $rc: $(cat "$T/get.out")"
"$CARRIER" config history "$d1" web >"$T/hist.out" 2>&1 || fail "config history: $(cat "$T/hist.out")"
# Versions 6 and 5 target d1, 3 a tag it may carry; the refused ones
# were never signed.
[ "$(awk 'NR > 1 {print $1}' "$T/hist.out" | tr '\n' ' ')" = "6 5 3 " ] ||
	fail "config history: $(cat "$T/hist.out")"
grep -q "^3  .* tag:site=lab .* unknown (no health record)" "$T/hist.out" ||
	fail "config history: $(cat "$T/hist.out")"
ok "config get says the device reports nothing; history lists the versions signed for it"
