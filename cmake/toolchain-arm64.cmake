# Cross build for Debian arm64 (AArch64): see cmake/toolchain-cross.cmake.
#
#   scripts/cross-sysroot.sh arm64
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm64.cmake \
#         -DCR_DEVICE_ONLY=ON
set(CR_CROSS_ARCH arm64)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-cross.cmake)
