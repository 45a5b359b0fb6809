# Cross build for Debian armel (ARMv5TE, soft-float EABI, no FPU) against
# musl instead of glibc, for the smallest static device binary: see
# cmake/toolchain-cross.cmake and docs/packaging.md ("musl builds").
#
#   scripts/cross-sysroot.sh armel-musl
#   cmake -S . -B build-armel-musl -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-armel-musl.cmake \
#         -DCR_DEVICE_ONLY=ON
set(CR_CROSS_ARCH armel)
set(CR_CROSS_LIBC musl)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-cross.cmake)
