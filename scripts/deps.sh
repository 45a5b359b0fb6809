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
