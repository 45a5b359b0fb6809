#!/usr/bin/env bash
# A hostile image's symlinks cannot aim mounts or created files outside its
# root: symlinks to an absolute host path, to "../../..", and a dangling one
# to a host file, as mount destinations.  Run twice: with the kernel's
# openat2 (RESOLVE_IN_ROOT), and forced onto bolter's own walk
# (BOLTER_PATH_WALK=1), the fallback for kernels without openat2 or with it
# filtered by seccomp.
. "$(dirname "$0")/../bolter/lib.sh"

mkdir -p "$T/outside" "$T/host"
# /up/$esc would be /$esc on the host if ".." climbed out of the root.
esc=$(basename "$T")
echo from-host >"$T/host/f"
for mode in openat2 walk; do
	b=p-$mode
	bundle "$b" sh -c "grep -c ' $T/outside/mnt ' /proc/self/mountinfo; grep -c ' /$esc ' /proc/self/mountinfo; cat /dangling"
	ln -s "$T/outside" "$T/$b/rootfs/evil"
	ln -s ../../../../.. "$T/$b/rootfs/up"
	ln -s "$T/victim" "$T/$b/rootfs/dangling"
	edit "$b" "s['mounts'] += [{'destination': '/evil/mnt', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['mode=755']}, {'destination': '/up/$esc', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['mode=755']}, {'destination': '/dangling', 'type': 'bind', 'source': '$T/host/f', 'options': ['bind', 'ro']}]"
	if [ $mode = walk ]; then
		out=$(BOLTER_PATH_WALK=1 run_in "$b" | tr '\n' ' ')
	else
		out=$(run_in "$b" | tr '\n' ' ')
	fi
	expect_eq "$mode: mounts land inside the root" "$out" "1 1 from-host "
	[ ! -e "$T/outside/mnt" ] || fail "$mode: /evil/mnt was created on the host"
	[ ! -e "$T/victim" ] || fail "$mode: /dangling created a host file"
	[ ! -e "/$esc" ] || fail "$mode: /up/$esc was created on the host"
	[ -d "$T/$b/rootfs$T/outside/mnt" ] || fail "$mode: /evil/mnt not in the root"
	[ -f "$T/$b/rootfs$T/victim" ] || fail "$mode: /dangling not created in the root"
	ok "$mode: nothing created outside the root"
done
