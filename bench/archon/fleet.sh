#!/usr/bin/env bash
# The fleet simulation of tests/integration/test_archon_fleet.sh with more
# devices: one nginx origin, a ring of 3 carrier-nodes with shard caches,
# two seed devices serving the update behind real agents, N devices pulling
# v1 and then the v2 update at once (10 of them from peers too).  Prints
# the origin's bytes against the update's size and the bytes each source
# served.
#
#   bench/archon/fleet.sh [N]      (default 200; KORHAL_BUILD=DIR, default ./build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${KORHAL_BUILD:-$root/build}
n=${1:-200}
export ARCHON=$build/device-agent/archon/archon CARRIER_NODE=$build/ring-node/carrier-node
export CARRIER_AGENT=$build/device-agent/carrier-agent CARRIER=$build/cli/carrier
for b in "$ARCHON" "$CARRIER_NODE" "$CARRIER_AGENT" "$CARRIER"; do
	[ -x "$b" ] || { echo "fleet.sh: build first ($b missing)" >&2; exit 1; }
done
# Each device holds a few open files while the pulls run at once.
ulimit -n "$(ulimit -Hn)"
t0=$(date +%s)
ARCHON_FLEET_DEVICES=$n bash "$root/tests/integration/test_archon_fleet.sh" |
	grep -E '^(fleet of|update:|ok: origin|nodes:)'
echo "fleet.sh: $n devices, $(($(date +%s) - t0)) s in all"
