# shellcheck shell=bash disable=SC2034 # ARCH is for the tests that source this
# Sourced by tests/cross/test_*.sh (after tests/integration/lib.sh): what
# the cross-built programs of this build must be.  ctest sets CR_CROSS_ARCH
# (the Debian architecture of cmake/toolchain-<arch>.cmake).
ARCH=${CR_CROSS_ARCH:-armel}
case $ARCH in
armel | armhf) ELF_RE='ELF 32-bit LSB .*, ARM, EABI5' ;;
arm64) ELF_RE='ELF 64-bit LSB .*, ARM aarch64' ;;
mipsel) ELF_RE='ELF 32-bit LSB .*, MIPS' ;;
mips) ELF_RE='ELF 32-bit MSB .*, MIPS' ;;
*) fail "unknown CR_CROSS_ARCH '$ARCH'" ;;
esac

# cross_check_elf FILE: FILE is a static executable for $ARCH.
cross_check_elf() {
	local out
	out=$(file -bL "$1")
	grep -Eq "$ELF_RE" <<<"$out" && grep -q 'statically linked' <<<"$out" ||
		fail "$1 is not a static $ARCH executable: $out"
}
