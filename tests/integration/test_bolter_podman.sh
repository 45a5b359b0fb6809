#!/usr/bin/env bash
# A real client: podman (Debian) runs the busybox image with --runtime
# pointing at bolter-oci: exit codes, run -d + exec + logs + stop + rm, a
# terminal (-t, through --console-socket), and a memory limit.
. "$(dirname "$0")/../bolter/lib.sh"

command -v podman >/dev/null || { echo "SKIP: podman is not installed (apt-get install podman)"; exit 77; }
OCI=$(dirname "$BOLTER")/bolter-oci
[ -x "$OCI" ] || fail "no bolter-oci link next to $BOLTER"

# The recipe of shared/MACHINE-NOTES.md, with storage private to the test.
PM=(podman --root "$T/storage" --runroot "$T/run" --cgroup-manager=cgroupfs
	--events-backend=file --runtime "$OCI")
# --network none: the test leaves the host's bridges and firewall alone.
U=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
podman_cleanup() {
	timeout 60 "${PM[@]}" rm -af >/dev/null 2>&1 || true
	timeout 60 "${PM[@]}" rmi -af >/dev/null 2>&1 || true
	# Whatever podman left mounted under the test folder.
	findmnt -rn -o TARGET | grep "^$T/" | sort -r | xargs -r umount -l 2>/dev/null || true
	bolter_cleanup
}
trap podman_cleanup EXIT

# podman names the image after the layout's path, which must be lowercase.
layout=/tmp/korhal-bolter-layout-$$
"$HERE/mkbundle.sh" --layout "$layout" "$T/b" true >/dev/null
img=$(timeout 120 "${PM[@]}" pull -q "oci:$layout:latest")
rm -rf "$layout"
[ -n "$img" ] || fail "podman could not load the OCI layout"

set +e
out=$(timeout 120 "${PM[@]}" run --rm "${U[@]}" "$img" sh -c 'echo hello; exit 3')
rc=$?
set -e
expect_eq "podman run: output" "$out" hello
expect_eq "podman run: exit code" "$rc" 3

timeout 120 "${PM[@]}" run -d --name d1 "${U[@]}" "$img" sh -c 'echo started; trap "exit 0" TERM; while :; do sleep 0.1; done' >/dev/null
out=$(timeout 60 "${PM[@]}" exec d1 sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "')
grep -q exec-ok <<<"$out" && grep -q "while :" <<<"$out" || fail "podman exec: $out"
ok "podman exec joins the container"
out=$(timeout 60 "${PM[@]}" exec -t d1 tty </dev/null | tr -d '\r')
case $out in /dev/pts/*) ok "podman exec -t (console socket from the host)" ;; *) fail "podman exec -t: $out" ;; esac
grep -q started <<<"$(timeout 60 "${PM[@]}" logs d1)" || fail "podman logs"
ok "podman logs"
timeout 60 "${PM[@]}" stop -t 5 d1 >/dev/null
[ "$(timeout 60 "${PM[@]}" inspect -f '{{.State.ExitCode}}' d1)" = 0 ] || fail "podman stop: the TERM trap did not run"
ok "podman stop delivers SIGTERM"
timeout 60 "${PM[@]}" rm d1 >/dev/null
[ -z "$(timeout 60 "${PM[@]}" ps -aq)" ] || fail "podman rm left a container"
ok "podman rm"

out=$(timeout 120 "${PM[@]}" run --rm -t "${U[@]}" "$img" tty </dev/null | tr -d '\r')
expect_eq "podman run -t (console socket)" "$out" /dev/pts/0

set +e
timeout 120 "${PM[@]}" run --rm -m 16m --memory-swap 16m "${U[@]}" "$img" sh -c 'head -c 67108864 /dev/zero | tail > /dev/null'
rc=$?
set -e
expect_eq "podman -m 16m kills the allocating process" "$rc" 137
