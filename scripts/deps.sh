# shellcheck shell=bash
# Shell helpers the scripts, tests and benchmarks share.
#
# What building the whole tree needs (cmake configures every component):
# one list for the demo, the test command and the README's install section.
KORHAL_BUILD_PACKAGES=(
	build-essential cmake pkg-config
	libevent-dev libsodium-dev liblmdb-dev libprotobuf-c-dev
	protobuf-c-compiler libssl-dev libjson-c-dev check
	# archon and the ring's shard cache: chunk compression (and zstd
	# layers), gzip layers (zlib's inflate under archon's own tar
	# reader), docker:// registries, deltas
	libzstd-dev zlib1g-dev libcurl4-openssl-dev libdivsufsort-dev
	# archon link (host builds): ELF reading; eu-elflint in its test
	libelf-dev elfutils
	# bolter
	libseccomp-dev
)

# korhal_install_packages PKG...: installs the Debian packages that are not
# installed yet (apt-get; through sudo when not root).  Sourced by the
# scripts; KORHAL_NO_INSTALL=1 skips it.
korhal_install_packages() {
	local missing=() p status sudo=()
	[ -z "${KORHAL_NO_INSTALL:-}" ] || return 0
	for p in "$@"; do
		# dpkg-query exits 1 for a package it never heard of: that is an
		# answer ("missing"), not an error for set -e to stop on.
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || status=
		[ "$status" = installed ] || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	echo "installing Debian packages: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || {
			echo "not root and no sudo: install ${missing[*]}" >&2
			return 1
		}
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get -q -y -o DPkg::Lock::Timeout=600 update &&
		"${sudo[@]}" apt-get -q -y -o DPkg::Lock::Timeout=600 \
			install --no-install-recommends "${missing[@]}"
}

# free_port: a loopback port that is free for both UDP and TCP right now.
# It is drawn below the kernel's ephemeral range, so the outgoing sockets of
# whatever else runs (curl, clients bound to port 0) cannot take it between
# this check and the bind of the program that gets it.
free_port() {
	python3 -c 'import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
lo = lo if lo > 12000 else 32768
for _ in range(1000):
    p = random.randrange(10000, lo)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
        t.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
        t.close()
    print(p)
    break
else:
    raise SystemExit("free_port: no free port found")'
}

# wait_until SECONDS COMMAND...: polls every 0.1 s; returns 1 on timeout.
wait_until() {
	local limit=$1; shift
	local end=$(( $(date +%s%N) + limit * 1000000000 ))
	while [ "$(date +%s%N)" -lt "$end" ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	return 1
}
