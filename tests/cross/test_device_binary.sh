#!/usr/bin/env bash
# korhal-device (CR_DEVICE_BINARY, on in device builds): one static
# executable that is carrier-agent, archon, bolter and bolter-oci by the
# name it runs under (the links beside it) and by its first argument, each
# with its own --help, --version and exit statuses; korhal-device itself
# follows docs/cli-conventions.md.  The other cross tests run the agent and
# archon through these links.  Cross builds only (tests/CMakeLists.txt).
set -euo pipefail
: "${CR_EMULATOR:?run through ctest}" "${KORHAL_SRC:?}"
if [ -z "${KORHAL_DEVICE:-}" ]; then
	echo "SKIP: built without korhal-device (-DCR_DEVICE_BINARY=OFF)"
	exit 77
fi
. "$KORHAL_SRC/tests/integration/lib.sh"
dev() { "$CR_EMULATOR" "$@"; }
D=$(dirname "$KORHAL_DEVICE")

. "$KORHAL_SRC/tests/cross/cross_lib.sh"
cross_check_elf "$KORHAL_DEVICE"
for name in carrier-agent archon bolter bolter-oci; do
	[ "$(readlink "$D/$name")" = korhal-device ] || fail "$D/$name is not a link to korhal-device"
done

# By the name it runs under: each program's own --version.
[ "$(dev "$D/carrier-agent" --version)" = "carrier-agent $(dev "$KORHAL_DEVICE" --version | cut -d' ' -f2)" ] ||
	fail "carrier-agent --version: $(dev "$D/carrier-agent" --version)"
[ "$(dev "$D/archon" --version)" = "archon $(dev "$KORHAL_DEVICE" --version | cut -d' ' -f2)" ] ||
	fail "archon --version: $(dev "$D/archon" --version)"
[ "$(dev "$D/bolter" --version)" = "bolter $(dev "$KORHAL_DEVICE" --version | cut -d' ' -f2)" ] ||
	fail "bolter --version: $(dev "$D/bolter" --version)"
# bolter-oci keeps runc's three-line form.
grep -q '^bolter-oci version ' <<<"$(dev "$D/bolter-oci" --version)" ||
	fail "bolter-oci --version: $(dev "$D/bolter-oci" --version)"
ok "the links run carrier-agent, archon, bolter and bolter-oci"

# By its first argument.
# (Output captured whole: grep -q would close the pipe early.)
for p in agent:carrier-agent archon:archon bolter:bolter; do
	out=$(dev "$KORHAL_DEVICE" "${p%%:*}" --help) || fail "korhal-device ${p%%:*} --help: exit $?"
	grep -q "^usage: ${p#*:} " <<<"$out" || fail "korhal-device ${p%%:*} --help: $out"
done
# A program's usage error is its own (exit 2), a runtime failure exit 1.
set +e
dev "$KORHAL_DEVICE" archon --no-such-option >/dev/null 2>"$T/err"
rc=$?
set -e
[ $rc = 2 ] && grep -q "^archon: unknown option '--no-such-option'" "$T/err" ||
	fail "korhal-device archon --no-such-option: exit $rc: $(cat "$T/err")"
set +e
: >"$T/not-a-folder"
dev "$KORHAL_DEVICE" archon --store "$T/not-a-folder" verify >/dev/null 2>"$T/err"
rc=$?
set -e
[ $rc = 1 ] && grep -q '^archon verify: ' "$T/err" ||
	fail "archon on a file as its store: exit $rc, want 1: $(cat "$T/err")"
ok "korhal-device agent|archon|bolter runs each program"

# korhal-device itself: help on stdout exit 0, usage errors exit 2.
out=$(dev "$KORHAL_DEVICE" --help) || fail "korhal-device --help: exit $?"
grep -q '^usage: korhal-device ' <<<"$out" || fail "korhal-device --help: $out"
grep -Eq '^korhal-device [0-9]' <<<"$(dev "$KORHAL_DEVICE" --version)" || fail "korhal-device --version"
for args in "" "frobnicate" "--frob"; do
	set +e
	# shellcheck disable=SC2086 # the empty case is no argument at all
	dev "$KORHAL_DEVICE" $args >"$T/out" 2>"$T/err"
	rc=$?
	set -e
	[ $rc = 2 ] && [ ! -s "$T/out" ] && grep -q "Try 'korhal-device --help'" "$T/err" ||
		fail "korhal-device '$args': exit $rc, out '$(cat "$T/out")', err '$(cat "$T/err")'"
done
ok "korhal-device: --help, --version, usage errors exit 2"
