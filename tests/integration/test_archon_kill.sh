#!/usr/bin/env bash
# Kill -9 at random moments of a pull, an import and a gc leaves a
# consistent store: after each kill `archon verify` passes, a version is
# either absent or whole, and the next run completes.
. "$(dirname "$0")/lib.sh"
: "${ARCHON:?run through ctest}"
P=$T/pub D=$T/dev W=$T/www
ROUNDS=${ARCHON_KILL_ROUNDS:-10}
[ "$KORHAL_ASAN" = 0 ] || ROUNDS=${ARCHON_KILL_ROUNDS:-4}

mkdir -p "$T/v1"
for i in $(seq 1 40); do head -c $((200000 + i * 7919)) /dev/urandom >"$T/v1/f$i"; done
cp -a "$T/v1" "$T/v2"
for i in $(seq 1 40 | shuf -n 15 --random-source=<(yes)); do head -c 150000 /dev/urandom >"$T/v2/f$i"; done
"$CARRIER" keygen --type vendor -o "$T/ven.key" >/dev/null
export ARCHON_PUBLISHER_KEY=$T/ven.key.pub
for v in 1 2; do
	"$ARCHON" --store "$P" import "$T/v$v" "app:$v" >/dev/null
	ARCHON_ZSTD_LEVEL=1 "$ARCHON" --store "$P" publish "app:$v" --to "$W" --bases 0 \
		--key "$T/ven.key" >/dev/null
done

# ms VAR CMD...: runs CMD, sets VAR to how long it took in ms.
ms() {
	local var=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	printf -v "$var" '%d' $(((t1 - t0) / 1000000))
}
ms t_pull "$ARCHON" --store "$T/probe" pull "file://$W" app:1
ms t_import "$ARCHON" --store "$T/probe" import "$T/v2" app:x
ms t_gc "$ARCHON" --store "$T/probe" gc --keep 1
echo "whole runs: pull ${t_pull} ms, import ${t_import} ms, gc ${t_gc} ms"

# killed_run MAX STORE CMD...: starts archon, kills it after a random
# delay below MAX ms (about the time a whole run takes), then checks the
# store.
killed=0
killed_run() {
	local max=$1 store=$2 delay pid
	shift 2
	delay=$((RANDOM % (max + 1)))
	"$ARCHON" --store "$store" "$@" >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '0.%03d' "$delay")"
	if kill -KILL "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
	wait "$pid" 2>/dev/null || true
	"$ARCHON" --store "$store" verify >"$T/verify.log" 2>&1 ||
		{ cat "$T/verify.log"; fail "store inconsistent after a kill at ${delay} ms of: $*"; }
}

whole() { # STORE NAME SRC: the version is absent, or whole
	local out=$T/co.$RANDOM
	"$ARCHON" --store "$1" ls | grep -q "^$2 " || return 0
	"$ARCHON" --store "$1" checkout "$2" "$out" || fail "checkout of $2 after a kill"
	diff -r "$3" "$out" >/dev/null || fail "$2 is listed but not whole after a kill"
	rm -rf "$out"
}

for r in $(seq 1 "$ROUNDS"); do
	# A fresh store each round, killed twice: the second run resumes
	# what the first left.
	killed_run "$t_pull" "$D.$r" pull "file://$W" app:1
	whole "$D.$r" app:1 "$T/v1"
	killed_run "$t_pull" "$D.$r" pull "file://$W" app:2
	whole "$D.$r" app:2 "$T/v2"
	"$ARCHON" --store "$D.$r" pull "file://$W" app:2 >/dev/null || fail "pull after a kill"
	whole "$D.$r" app:2 "$T/v2"
	if [ "$r" -gt 1 ]; then rm -rf "$D.$r"; fi
done
D=$D.1 # the gc rounds below go on with the first store
ok "pull: $killed of $((2 * ROUNDS)) runs killed, store verified after each"

"$ARCHON" --store "$D" pull "file://$W" app:1 >/dev/null || fail "pull after kills"
"$ARCHON" --store "$D" pull "file://$W" app:2 >/dev/null || fail "pull after kills"
whole "$D" app:1 "$T/v1"
whole "$D" app:2 "$T/v2"

killed=0
for r in $(seq 1 "$ROUNDS"); do
	killed_run "$t_import" "$T/imp$r" import "$T/v1" app:1
	whole "$T/imp$r" app:1 "$T/v1"
	rm -rf "$T/imp$r"
done
ok "import: $killed of $ROUNDS runs killed, store verified after each"

killed=0
for r in $(seq 1 "$ROUNDS"); do
	"$ARCHON" --store "$D" pull "file://$W" app:1 >/dev/null
	"$ARCHON" --store "$D" pull "file://$W" app:2 >/dev/null
	# app:1 is older: gc --keep 1 drops it and its unique objects.
	killed_run "$t_gc" "$D" gc --keep 1
	whole "$D" app:2 "$T/v2"
	whole "$D" app:1 "$T/v1"
done
"$ARCHON" --store "$D" gc --keep 1 >/dev/null
"$ARCHON" --store "$D" verify >/dev/null || fail "verify after the last gc"
whole "$D" app:2 "$T/v2"
ok "gc: $killed of $ROUNDS runs killed, store verified after each"
