#!/usr/bin/env bash
# A real checkpoint and restore through criu: a busybox counter is
# checkpointed, stopped and restored, and goes on counting from where it
# was.  Where criu cannot work (not installed, or `criu check` fails on this
# kernel) the test is skipped (exit 77) with the reason; the wiring to
# criu's command line is test_bolter_checkpoint.sh.
. "$(dirname "$0")/../bolter/lib.sh"

# --- the real thing, where criu works ---------------------------------------
if ! command -v criu >/dev/null; then
	echo "SKIP: criu is not installed (apt-get install criu)"
	exit 77
fi
if ! why=$(criu check 2>&1); then
	echo "SKIP: criu check fails on this kernel ($(grep -m1 Error <<<"$why"))"
	exit 77
fi
bundle cnt sh -c 'exec </dev/null >/dev/null 2>&1; i=0; while :; do i=$((i + 1)); echo $i >>/tmp/count; sleep 0.2; done'
(cd "$T/cnt" && "${BO[@]}" run --detach cnt)
count() { tail -n 1 "$T/cnt/rootfs/tmp/count" 2>/dev/null || echo 0; }
for _ in $(seq 100); do [ "$(count)" -ge 5 ] && break; sleep 0.1; done
"${BO[@]}" checkpoint --image-path "$T/cimg" cnt
n1=$(count)
[ -z "$("${BO[@]}" list -q)" ] || fail "checkpoint left the container running"
(cd "$T/cnt" && "${BO[@]}" restore --image-path "$T/cimg" -d cnt)
for _ in $(seq 100); do [ "$(count)" -gt $((n1 + 3)) ] && break; sleep 0.1; done
[ "$(count)" -gt $((n1 + 3)) ] || fail "restored counter did not go on: $(count) after $n1"
seq 1 "$(count)" | cmp -s - "$T/cnt/rootfs/tmp/count" ||
	fail "the count restarted instead of continuing: $(tr '\n' ' ' <"$T/cnt/rootfs/tmp/count")"
"${BO[@]}" delete --force cnt
ok "a checkpointed counter, restored, goes on from $n1"
