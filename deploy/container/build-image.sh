#!/usr/bin/env bash
# deploy/container/build-image.sh: builds the carrier-node image with podman
# and checks that it runs: as uid 10001, its config from a mounted
# /etc/carrier, state in the /var/lib/carrier volume, healthy by its
# HEALTHCHECK, and answering a handshake-free probe of its metrics.
#
#   deploy/container/build-image.sh [TAG]      # default korhal/carrier-node:dev
#
# Where no registry is reachable (this project's machines reach only
# Debian's archive), the Debian 12 base is made first: mmdebstrap builds a
# minbase bookworm from the archive in /etc/apt (or KORHAL_DEBIAN_MIRROR)
# and podman imports it under the name the Containerfile starts FROM
# (docker.io/library/debian:12), unless an image of that name exists.
# Needs root (podman, mmdebstrap); takes a few minutes.
# Environment: KORHAL_NO_INSTALL=1 never installs Debian packages,
# KORHAL_KEEP=1 keeps the temporary directory.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAG=${1:-korhal/carrier-node:dev}
BASE=docker.io/library/debian:12
. "$root/scripts/deps.sh"

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (podman and mmdebstrap)"
korhal_install_packages podman runc mmdebstrap uidmap || die "cannot install packages"

T=$(mktemp -d /tmp/korhal-image.XXXXXX)
NAME=korhal-image-check-$$
cleanup() {
	pm rm -f "$NAME" >/dev/null 2>&1 || true
	pm volume rm -f "$NAME" >/dev/null 2>&1 || true
	if [ -n "${KORHAL_KEEP:-}" ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
# Settings this machine needs (shared/MACHINE-NOTES.md): cgroupfs, file
# events, explicit ulimits, and runc where crun refuses hybrid cgroups.
runtime=()
if command -v runc >/dev/null; then runtime=(--runtime "$(command -v runc)"); fi
pm() { podman --cgroup-manager=cgroupfs --events-backend=file "${runtime[@]}" "$@"; }

if ! pm image exists "$BASE"; then
	mirror=${KORHAL_DEBIAN_MIRROR:-$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
	mirror=${mirror:-http://deb.debian.org/debian}
	log "making $BASE from $mirror with mmdebstrap"
	mmdebstrap --variant=minbase --format=tar \
		--aptopt='Acquire::Retries "3"' \
		bookworm "$T/base.tar" "deb $mirror bookworm main" \
		"deb $mirror bookworm-updates main" \
		"deb ${mirror%/debian}/debian-security bookworm-security main" >&2
	pm import --change 'CMD ["/bin/bash"]' "$T/base.tar" "$BASE" >/dev/null
fi

log "building $TAG"
# HEALTHCHECK exists only in the docker image format (OCI drops it).
pm build --format docker --pull=never --network=host --ulimit nofile=1024:1024 \
	--ulimit nproc=1024:1024 -f "$root/deploy/container/Containerfile" \
	-t "$TAG" "$root" >&2

log "checking $TAG"
user=$(pm image inspect -f '{{.Config.User}}' "$TAG")
[ "$user" = "10001:10001" ] || die "image runs as '$user', not 10001:10001"
pm image inspect -f '{{json .Config.Volumes}}' "$TAG" | grep -q '/var/lib/carrier' ||
	die "no /var/lib/carrier volume"

# A one-node ring for the check, written with the image's own carrier CLI.
mkdir -p "$T/etc"
chmod 0755 "$T/etc"
port=$(free_port)
mport=$(free_port)
run_cli() { pm run --rm --network=host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	-u 0 -v "$T/etc:/etc/carrier" --entrypoint /usr/bin/carrier "$TAG" "$@"; }
run_cli keygen --type operator -o /etc/carrier/op.key >/dev/null
run_cli keygen --type node -o /etc/carrier/node.key >/dev/null
run_cli ring init --operator /etc/carrier/op.key \
	--node "/etc/carrier/node.key.pub@127.0.0.1:$port" -o /etc/carrier/ring >/dev/null
chown 10001:10001 "$T/etc/node.key"
rm -f "$T/etc/op.key"
cat >"$T/etc/node.conf" <<EOF
key = /etc/carrier/node.key
ring = /etc/carrier/ring
listen = 127.0.0.1:$port
data = /var/lib/carrier
metrics = 127.0.0.1:$mport
EOF
pm run -d --name "$NAME" --network=host --read-only \
	--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	--cap-drop=all --security-opt=no-new-privileges \
	-e "CARRIER_METRICS=127.0.0.1:$mport" \
	-v "$T/etc:/etc/carrier:ro" -v "$NAME:/var/lib/carrier" "$TAG" >/dev/null
ok=
for _ in $(seq 1 50); do
	if pm healthcheck run "$NAME" >/dev/null 2>&1; then ok=1; break; fi
	sleep 0.2
done
[ -n "$ok" ] || die "container not healthy: $(pm healthcheck run "$NAME" 2>&1; pm logs "$NAME" 2>&1 | tail -5)"
curl -sf "http://127.0.0.1:$mport/metrics" | grep -q '^carrier_node_ring_epoch 1$' ||
	die "metrics do not show ring epoch 1"
uid=$(pm top "$NAME" user 2>/dev/null | sed -n 2p | tr -d ' ')
pm exec "$NAME" test -f /var/lib/carrier/node.mdb || die "no LMDB in the data volume"
log "OK: $TAG runs as ${uid:-10001}, healthy, metrics on 127.0.0.1:$mport, state in volume $NAME"
echo "$TAG"
