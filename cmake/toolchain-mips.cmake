# Cross build for big-endian mips (MIPS32r2 o32; libraries built from Debian 12's sources): see cmake/toolchain-cross.cmake.
#
#   scripts/cross-sysroot.sh mips
#   cmake -S . -B build-mips -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-mips.cmake \
#         -DCR_DEVICE_ONLY=ON
set(CR_CROSS_ARCH mips)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-cross.cmake)
