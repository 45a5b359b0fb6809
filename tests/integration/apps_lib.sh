# shellcheck shell=bash disable=SC2034 # names for the tests that source this
# Shared set-up of the agent's app tests (test_agent_apps.sh,
# test_agent_powercut.sh, bench/agent-switch.sh): a busybox web app in
# versions 1..N published to a folder nginx serves on loopback, a vendor
# trust root (two release keys, both needed), a one-node loopback ring and
# a device agent with --trust.  Sourced after lib.sh.
: "${ARCHON:?run through ctest}" "${BOLTER:?}" "${DEVSIM:?}"
[ "$(id -u)" = 0 ] || { echo "SKIP: the agent's containers need root"; exit 77; }
command -v nginx >/dev/null || { echo "SKIP: no nginx (scripts/deps.sh)"; exit 77; }
MKRELEASE=$(dirname "$DEVSIM")/mkrelease
SRC=${KORHAL_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
# The apps' containers get a cgroup parent of their own (tests run in
# parallel under one ctest cgroup).
APPS_CG=korhal-test-${T##*.}
DEV=$T/dev.d
APP_PORT=$(free_port)
chmod 711 "$T"

apps_cleanup() {
	local rc=$? id
	set +e
	[ -z "${AGENT_PID:-}" ] || kill -KILL "$AGENT_PID" 2>/dev/null || true
	if [ -d "$DEV/bolter" ]; then
		for id in $("$BOLTER" --root "$DEV/bolter" list -q 2>/dev/null); do
			"$BOLTER" --root "$DEV/bolter" delete --force "$id" >/dev/null 2>&1 || true
		done
	fi
	{ findmnt -rn -o TARGET 2>/dev/null | grep "^$T/" | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done; } || true
	find /sys/fs/cgroup -maxdepth 8 -depth -type d -path "*$APPS_CG*" \
		-exec rmdir {} + 2>/dev/null || true
	(exit "$rc")
	cleanup
}
trap apps_cleanup EXIT

# make_versions N: web:1..web:N in the publisher's store $T/pub, each a
# busybox tree whose /www/index.html says "web vI" (and /www/vI.html
# exists only in version I), published to $T/origin.
make_versions() {
	"$SRC/tests/bolter/mkbundle.sh" "$T/bb" true >/dev/null
	for v in $(seq 1 "$1"); do
		cp -a "$T/bb/rootfs" "$T/img$v"
		mkdir -p "$T/img$v/www"
		echo "web v$v" >"$T/img$v/www/index.html"
		echo "only in v$v" >"$T/img$v/www/v$v.html"
		ARCHON_STORE=$T/pub "$ARCHON" import "$T/img$v" "web:$v" >/dev/null
		ARCHON_STORE=$T/pub "$ARCHON" publish "web:$v" --to "$T/origin" >/dev/null
	done
}

# make_trust [ROLLOUT]: root key, release keys rel1 and rel2 (threshold 2),
# $T/trust (carrier trust init).  The rollout key is the root key, or a key
# of its own, $T/ROLLOUT.key, when named (an attacker may steal it alone).
make_trust() {
	local k roll=${1:-root}
	for k in root rel1 rel2 ${1:+"$1"}; do
		"$CARRIER" keygen --type vendor -o "$T/$k.key" >/dev/null
	done
	"$CARRIER" trust init --root "$T/root.key" --release "$T/rel1.key.pub" \
		--release "$T/rel2.key.pub" --release-threshold 2 \
		--rollout "$T/$roll.key.pub" -o "$T/trust" >/dev/null
}

# release V COUNTER OUT [HEALTH [ARCH]]: web V (carrier release, signed by
# rel1, then carrier release sign by rel2), running busybox httpd on
# APP_PORT, probed by HEALTH (default http:APP_PORT/index.html).
release() {
	"$CARRIER" release "web:$1" --image "$ORIGIN_URL" "web:$1" --counter "$2" \
		--arch "${5:-$ARCH}" --key "$T/rel1.key" -o "$3" \
		--health "${4:-http:$APP_PORT/index.html}" \
		-- httpd -f -p "127.0.0.1:$APP_PORT" -h /www >/dev/null
	"$CARRIER" release sign "$3" --key "$T/rel2.key" >/dev/null
}

# start_apps_agent [FLAGS...]: the device agent with --trust (AGENT_PID).
start_apps_agent() {
	"$CARRIER_AGENT" --key "$T/dev.key" --ring "$T/ring" --data "$DEV" \
		--trust "$T/trust" --apps-cgroup "$APPS_CG" --keepalive 1s "$@" \
		>>"$T/dev.log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$!")
	wait_until 20 test -S "$DEV/control.sock" || fail "the agent's control socket did not appear"
}

agent_ctl() { "$CARRIER_AGENT" --data "$DEV" "$@"; }

# app_field FIELD: the field of web in `apps --json`.
app_field() {
	agent_ctl apps --json | python3 -c 'import json,sys
for l in sys.stdin:
    o = json.loads(l)
    if o["app"] == "web":
        v = o[sys.argv[1]]
        print(",".join(v) if isinstance(v, list) else v)' "$1"
}

state_is() { [ "$(app_field state)" = "$1" ]; }
app_field_is() { [ "$(app_field "$1")" = "$2" ]; }

# in_app FILE WORD: the app's FILE (under its /tmp, the overlay's upper folder
# of version 1) holds WORD.
in_app() { [ "$(cat "$DEV/apps/web/versions/1/upper/tmp/$1" 2>/dev/null)" = "$2" ]; }

# lab_setup N [AGENT FLAGS...]: versions 1..N published, a trust root whose
# rollout key is $T/roll.key (CARRIER_KEY), a one-node ring, and the agent
# tagged site=lab, attached.
lab_setup() {
	make_versions "$1"
	shift
	start_origin "$T/origin"
	make_trust roll
	export CARRIER_KEY=$T/roll.key CARRIER_TRUST=$T/trust CARRIER_DEPLOYMENTS=$T/deployments
	make_ring 1
	start_node 0
	device dev >/dev/null
	start_apps_agent --tag site=lab "$@"
	wait_until 20 grep -q "attached to node" "$T/dev.log" || fail "the agent did not attach"
	sleep 1 # the node stores the presence (and its tags)
}

# lab_deploy RELEASE OUT TIMEOUT: a deploy to tag:site=lab in one wave that
# tolerates no failure, followed for TIMEOUT.
lab_deploy() {
	"$CARRIER" deploy "$1" --to tag:site=lab --waves 100 --max-failures 0 \
		--health-window 1s --timeout "$3" >"$2" 2>&1
}

# serving: what the app answers on /index.html ("" when nothing).
serving() { curl -sf --max-time 2 "http://127.0.0.1:$APP_PORT/index.html" || true; }

# running_versions: the web containers bolter runs (versions, sorted).
running_versions() {
	local id
	for id in $("$BOLTER" --root "$DEV/bolter" list -q 2>/dev/null); do
		[ "${id#web+}" != "$id" ] || continue
		if "$BOLTER" --root "$DEV/bolter" state "$id" 2>/dev/null | grep -Eq '"status": *"running"'; then
			echo "${id#web+}"
		fi
	done | sort
}

# apps_setup N: versions 1..N, the origin, the trust root, the ring, the
# agent.
apps_setup() {
	make_versions "$1"
	start_origin "$T/origin"
	make_trust
	make_ring 1
	start_node 0
	device dev >/dev/null
	start_apps_agent
	wait_until 20 grep -q "attached to node" "$T/dev.log" || fail "the agent did not attach"
}
