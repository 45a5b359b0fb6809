#!/usr/bin/env bash
# bench/device-qemu.sh: how long the static device agent takes to attach
# to a one-node loopback ring on each device architecture under qemu-user,
# relative to the native x86_64 agent (issue 16's "time to attach under
# qemu, relative figures only": an emulator's speed says nothing about a
# board's).  From the agent's start to its "attached to node" line, the
# median of BENCH_RUNS (5) runs each.  Writes bench/results/device-qemu.txt.
#
#   bench/device-qemu.sh [TREE]
#
# TREE (default: this checkout) holds build/ (the host's node, CLI and
# agent) and the build-ARCH folders the test command's armel and cross
# legs leave; an architecture without its binary or its qemu is skipped.
# Starting a container under qemu is not timed here: Bolter runs one under
# qemu-user only through a user namespace's own binfmt_misc entry
# (tests/cross/test_bolter.sh), whose set-up would dominate the figure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tree=$(cd "${1:-$root}" && pwd)
runs=${BENCH_RUNS:-5}
out=$root/bench/results/device-qemu.txt
export CARRIER_NODE=$tree/build/ring-node/carrier-node CARRIER=$tree/build/cli/carrier
export CARRIER_AGENT=$tree/build/device-agent/carrier-agent
for b in "$CARRIER_NODE" "$CARRIER" "$CARRIER_AGENT"; do
	[ -x "$b" ] || { echo "device-qemu: $b missing: build the host tree first" >&2; exit 1; }
done
# lib.sh: its own temporary folder ($T, HOME), ports, the ring, cleanup.
. "$root/tests/integration/lib.sh"

make_ring 1
start_node 0
device dev >/dev/null

# attach_ms EMULATOR... AGENT: ms from start to attached, one run.
attach_ms() {
	local t0 t1 pid
	rm -rf "$T/dev.d" "$T/dev.log"
	t0=$(date +%s%3N)
	"$@" --key "$T/dev.key" --ring "$T/ring" --data "$T/dev.d" >"$T/dev.log" 2>&1 &
	pid=$!
	wait_until 60 grep -q "attached to node" "$T/dev.log" || { kill "$pid"; return 1; }
	t1=$(date +%s%3N)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	echo $((t1 - t0))
}

# median RUNS EMULATOR... AGENT
median() {
	local i
	for i in $(seq "$runs"); do attach_ms "$@"; done | sort -n | sed -n "$(((runs + 1) / 2))p"
}

{
	echo "# the device agent's attach under qemu-user, relative to native"
	echo
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit: $(git -C "$tree" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "machine: $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
	echo "runs: median of $runs, from the agent's start to 'attached to node' (handshake, presence published)"
	echo
	native=$(median "$CARRIER_AGENT")
	printf '%-12s %8s %8s\n' arch ms "x native"
	printf '%-12s %8d %8s\n' "x86_64" "$native" 1.0
	for arch in armel armel-musl armhf arm64 mipsel mips; do
		exe=$tree/build-$arch/device-agent/device/korhal-device
		case ${arch%-musl} in
		armel | armhf) q=qemu-arm-static ;;
		arm64) q=qemu-aarch64-static ;;
		*) q=qemu-${arch}-static ;;
		esac
		if [ ! -x "$exe" ] || ! command -v "$q" >/dev/null; then continue; fi
		ms=$(median "$q" "$exe" agent)
		printf '%-12s %8d %8.1f\n' "$arch" "$ms" "$(echo "$ms / $native" | bc -l)"
	done
} | tee "$out"
