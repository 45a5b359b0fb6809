# shellcheck shell=bash
# bench/ring_lib.sh: what the ring benches (ring-scale.sh, ring-idle.sh,
# ring-failover-scale.sh) share, so that they measure alike.  Sourced after
# `set -euo pipefail` and RING_NAME (the script's name, for messages).
# Sets LC_ALL=C, root (the checkout), build (KORHAL_BUILD, default
# <repo>/build) and sources scripts/deps.sh (free_port, wait_until, ...).
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KORHAL_BUILD:-$root/build}

# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

log() { printf '%s\n' "$*" >&2; }
die() { log "bench/$RING_NAME: $*"; exit 1; }

# ring_need_ringfail: dies unless the build holds ringfail, carrier and
# carrier-node.
ring_need_ringfail() {
	local b
	for b in bench/ringfail ring-node/carrier-node cli/carrier; do
		[ -x "$build/$b" ] || die "$build/$b missing: cmake --build $build --target ringfail carrier carrier-node"
	done
}

# ring_tmp PREFIX DATASUB: T, a new temporary directory; DATA, the nodes'
# data: in /dev/shm when it is writable (LMDB commits with fdatasync on a
# shared disk stall a node's loop; the benches measure CPU and memory, not
# the disk), else $T/DATASUB; PIDS, the processes ring_cleanup ends.
ring_tmp() {
	T=$(mktemp -d "/tmp/$1.XXXXXX")
	RING_DATA_IN_T=$T/$2
	DATA=$RING_DATA_IN_T
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then DATA=$(mktemp -d "/dev/shm/$1.XXXXXX"); fi
	PIDS=()
}

# ring_cleanup SIGNAL: ends PIDS with SIGNAL (KILL: ignoring INT and TERM
# meanwhile, so that a second signal does not cut the cleanup short), then
# removes DATA and T (KORHAL_KEEP=1 keeps T).  For `trap ... EXIT`.
ring_cleanup() {
	local p
	[ "$1" != KILL ] || trap '' INT TERM
	for p in "${PIDS[@]}"; do kill -"$1" "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ "$DATA" = "$RING_DATA_IN_T" ] || rm -rf "$DATA"
	if [ -n "${KORHAL_KEEP:-}" ]; then log "kept $T"; else rm -rf "$T"; fi
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ms() { # utime + stime of the PIDs, in ms
	local s=0 p hz; hz=$(getconf CLK_TCK)
	for p in "$@"; do
		s=$((s + $(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
	done
	echo $((s * 1000 / hz))
}
