#!/usr/bin/env bash
# The main job, end to end on one machine:
#
#   ./scripts/demo.sh
#
# installs the Debian packages it needs when any is missing, builds, then
# starts a local ring node and a device agent from an embedded default
# configuration in a temporary directory, puts an HTTP server behind the
# device (on a free local port, as the device sees it), shows the device with
# `carrier lookup`, and fetches the page through `carrier connect -L`:
# vendor -> ring node -> device, end-to-end encrypted.  Exits 0 when the page
# came through.  KORHAL_DEMO_KEEP=1 keeps everything running until Ctrl-C.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/deps.sh"
korhal_install_packages "${KORHAL_BUILD_PACKAGES[@]}" python3 curl

build=$root/build
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target carrier carrier-node carrier-agent >/dev/null
bin=$build
carrier=$bin/cli/carrier

T=$(mktemp -d /tmp/korhal-demo.XXXXXX)
http_port=$(free_port)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "keys: an operator, a ring node, a device and a vendor"
"$carrier" keygen --type operator -o "$T/operator.key"
"$carrier" keygen --type node -o "$T/node.key"
device=$("$carrier" keygen --type device -o "$T/device.key")
vendor=$("$carrier" keygen --type vendor -o "$T/vendor.key")
echo "device $device"
echo "vendor $vendor"

node_addr=127.0.0.1:$(free_port)
step "the ring: one node at $node_addr, signed by the operator"
"$carrier" ring init --operator "$T/operator.key" \
	--node "$T/node.key.pub@$node_addr" -o "$T/ring"

# The embedded default configuration of the two daemons.
cat > "$T/node.conf" <<CONF
key = $T/node.key
ring = $T/ring
listen = $node_addr
data = $T/node-data
log-level = info
CONF
cat > "$T/agent.conf" <<CONF
key = $T/device.key
ring = $T/ring
data = $T/device-data
keepalive = 5s
# Only this vendor, and only the device's local HTTP API.
allow = $vendor:$http_port
CONF

step "carrier-node --config node.conf"
"$bin/ring-node/carrier-node" --config "$T/node.conf" 2>"$T/node.log" &
pids+=($!)
step "carrier-agent --config agent.conf (on the device)"
"$bin/device-agent/carrier-agent" --config "$T/agent.conf" 2>"$T/agent.log" &
pids+=($!)

step "an HTTP server on the device, 127.0.0.1:$http_port"
mkdir -p "$T/www"
echo "hello from device $device" > "$T/www/index.html"
python3 -m http.server "$http_port" --bind 127.0.0.1 --directory "$T/www" \
	>"$T/http.log" 2>&1 &
pids+=($!)

export CARRIER_KEY=$T/vendor.key CARRIER_RING=$T/ring
export CARRIER_CONFIG_DIR=$T/vendor-config
step "carrier lookup $device"
for _ in $(seq 50); do
	"$carrier" lookup "$device" >/dev/null 2>&1 && break
	sleep 0.2
done
"$carrier" lookup "$device"

lport=$(free_port)
step "carrier connect $device $http_port -L $lport -v"
"$carrier" connect "$device" "$http_port" -L "127.0.0.1:$lport" -v &
pids+=($!)
for _ in $(seq 50); do
	curl -sf "http://127.0.0.1:$lport/" >/dev/null 2>&1 && break
	sleep 0.2
done
step "curl http://127.0.0.1:$lport/  (through the ring, end-to-end encrypted)"
page=$(curl -sf "http://127.0.0.1:$lport/index.html")
echo "$page"
[ "$page" = "hello from device $device" ] || { echo "demo: FAILED"; exit 1; }
echo
echo "demo: OK"
if [ -n "${KORHAL_DEMO_KEEP:-}" ]; then
	echo "running; try: curl http://127.0.0.1:$lport/  (Ctrl-C to stop)"
	wait
fi
