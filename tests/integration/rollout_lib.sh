# shellcheck shell=bash
# Shared setup of the rollout tests (test_rollout_*.sh): a 3-node ring, a
# trust root (root, release and rollout keys), releases of one app in two
# versions pinning a tiny published Archon image, and the simulated fleet
# (tests/tools/fleetsim.c).  Sourced after lib.sh.
: "${ARCHON:?run through ctest}" "${FLEETSIM:?run through ctest}"

# N devices: 200, or 1000 with KORHAL_LONG=1; fewer under ASan.
if [ -n "${KORHAL_LONG:-}" ]; then SIM_N=1000; else SIM_N=200; fi
if [ "$KORHAL_ASAN" = 1 ]; then SIM_N=100; fi

# rollout_setup: the ring (nodes started with $NODE_FLAGS), the keys, the
# trust root and releases web 1.0, 2.0 and 3.0.
# ROLLOUT_NODES nodes (default 3); node i also gets ${NODE_FLAGS_OF[i]},
# which a function rollout_node_flags, when the test defines one, may set
# once the ring's addresses are known.
rollout_setup() {
	make_ring "${ROLLOUT_NODES:-3}"
	if declare -F rollout_node_flags >/dev/null; then rollout_node_flags; fi
	# shellcheck disable=SC2086 # NODE_FLAGS are words
	for i in $(seq 0 $((${ROLLOUT_NODES:-3} - 1))); do
		start_node "$i" ${NODE_FLAGS:-} ${NODE_FLAGS_OF[$i]:-}
	done
	for k in root rel roll; do vendor "$k" >/dev/null; done
	"$CARRIER" trust init --root "$T/root.key" --release "$T/rel.key.pub" \
		--rollout "$T/roll.key.pub" -o "$T/trust" >/dev/null
	mkdir -p "$T/img/bin" "$T/www"
	printf '#!/bin/sh\necho v1\n' >"$T/img/bin/app"
	"$ARCHON" --store "$T/store" import "$T/img" acme/web:1 >/dev/null
	"$ARCHON" --store "$T/store" publish acme/web:1 --to "$T/www" >/dev/null
	for v in 1.0:1 2.0:2 3.0:3; do
		"$CARRIER" release "web:${v%:*}" --image "$T/www" acme/web:1 \
			--counter "${v#*:}" --arch amd64,arm64,armel,armhf,mipsel \
			--key "$T/rel.key" --trust "$T/trust" \
			-o "$T/web-${v%:*}.release" >/dev/null
	done
	export CARRIER_KEY=$T/roll.key CARRIER_TRUST=$T/trust
}

# start_sim NAME [FLAGS...]: SIM_N simulated devices tagged site=lab
# running web 1.0, their files in $T/NAME; sets SIM_PID.
start_sim() {
	local name=$1; shift
	mkdir -p "$T/$name"
	"$FLEETSIM" --ring "$T/ring" --trust "$T/trust" --dir "$T/$name" \
		-n "$SIM_N" --tag site=lab --version 1.0 "$@" \
		>>"$T/$name.log" 2>&1 &
	SIM_PID=$!
	PIDS+=("$!")
	# Up (and SIGUSR1 handled) once it wrote its identities.
	wait_until 60 test -s "$T/$name/ids.txt" || fail "fleetsim $name did not start"
}

# sim_count NAME STATE [VERSION]: devices of the sim in STATE (at VERSION).
sim_count() {
	# A SIGUSR1 before the sim ignores it (ids.txt comes after) kills it.
	[ -s "$T/$1/ids.txt" ] || { echo 0; return; }
	kill -USR1 "$SIM_PID" 2>/dev/null || true
	sleep 0.2
	python3 - "$T/$1/state.json" "$2" "${3:-}" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["state"] == sys.argv[2] and (not sys.argv[3] or o["version"] == sys.argv[3]):
        n += 1
print(n)
PY
}

# all_attached N: the nodes hold N devices' presence that a deployment can
# reach (the sim's own count of sessions up is not exported: wait on the
# nodes' log lines instead).
all_attached() {
	local n
	n=$(cat "$T"/node*.log | grep -c "device .* attached from" || true)
	[ "$n" -ge "$1" ]
}
