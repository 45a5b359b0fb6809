# shellcheck shell=bash
# Shell helpers the scripts, tests and benchmarks share.
#
# korhal_install_packages PKG...: installs the Debian packages that are not
# installed yet (apt-get; through sudo when not root).  Sourced by the
# scripts; KORHAL_NO_INSTALL=1 skips it.
korhal_install_packages() {
	local missing=() p status sudo=()
	[ -z "${KORHAL_NO_INSTALL:-}" ] || return 0
	for p in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
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
free_port() {
	python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    t.bind(("127.0.0.1", s.getsockname()[1]))
except OSError:
    pass
print(s.getsockname()[1])'
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
