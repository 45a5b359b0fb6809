#!/usr/bin/env bash
# The cross-built (static; armel, armhf, arm64, mipsel or mips) agent runs
# apps under the emulator (docs/agent-apps.md): with --trust it takes
# signed releases for its architecture on
# its control socket, pulls from nginx, journals each step, checks out,
# starts the container with Bolter (its namespaces and mounts are system
# calls qemu-user passes through; the app itself is the host's busybox,
# which the kernel runs natively) and probes it: v1 commits and serves, v2
# fails its probe and v1 serves again; a release for amd64 is refused.  The
# host build gives the node, the CLI, archon (publishing) and bolter (the
# test's clean-up).  Cross builds only (tests/CMakeLists.txt).
set -euo pipefail
: "${CARRIER_AGENT:?run through ctest}" "${CR_EMULATOR:?}" "${CARRIER_NODE:?}" "${CARRIER:?}"
HOST=$(dirname "$(dirname "$CARRIER")")
for b in "$CARRIER_NODE" "$CARRIER" "$HOST/device-agent/archon/archon" "$HOST/device-agent/bolter/bolter"; do
	if [ ! -x "$b" ]; then
		echo "SKIP: no host build of $b (build the host's programs first)"
		exit 77
	fi
done
if [ "${CR_CROSS_HTTP:-1}" != 1 ]; then
	# The agent pulls releases from nginx (a build with
	# -DAR_WITH_HTTP=OFF has no HTTP client).
	echo "SKIP: this build has no HTTP client (-DAR_WITH_HTTP=OFF)"
	exit 77
fi
CROSS_AGENT=$CARRIER_AGENT
export ARCHON=$HOST/device-agent/archon/archon BOLTER=$HOST/device-agent/bolter/bolter \
	DEVSIM=$HOST/tests/integration/devsim
. "$KORHAL_SRC/tests/integration/lib.sh"
. "$KORHAL_SRC/tests/cross/cross_lib.sh"
cross_check_elf "$CROSS_AGENT"
printf '#!/bin/sh\nexec %s %s "$@"\n' "$CR_EMULATOR" "$CROSS_AGENT" >"$T/agent-cross"
chmod +x "$T/agent-cross"
CARRIER_AGENT=$T/agent-cross
. "$KORHAL_SRC/tests/integration/apps_lib.sh"
ARCH=${CR_CROSS_ARCH:-armel}

apps_setup 2
release 1 1 "$T/r1"
agent_ctl install "$T/r1" --health-window 3s >"$T/out" 2>"$T/err" || fail "install v1: $(cat "$T/err")"
[ "$(serving)" = "web v1" ] || fail "v1 does not serve: '$(serving)'"
ok "$ARCH agent: v1 pulled, staged, started and committed"
release 2 2 "$T/r2" "http:$APP_PORT/missing"
if agent_ctl install "$T/r2" --health-window 3s >"$T/out" 2>"$T/err"; then fail "v2 committed"; fi
grep -q "answered 404" "$T/err" || fail "install v2: $(cat "$T/err")"
[ "$(serving)" = "web v1" ] && [ "$(app_field state)" = rolled_back ] ||
	fail "after v2: '$(serving)', $(agent_ctl apps --json)"
ok "$ARCH agent: v2 fails its probe, v1 serves again"
release 2 3 "$T/r3" "" amd64
if agent_ctl install "$T/r3" >"$T/out" 2>"$T/err"; then fail "an amd64 release was installed"; fi
grep -q "is for amd64, this device is $ARCH" "$T/err" || fail "amd64 release: $(cat "$T/err")"
ok "$ARCH agent refuses an amd64 release"
