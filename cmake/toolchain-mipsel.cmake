# Cross build for Debian mipsel (MIPS32r2 o32, little-endian): see cmake/toolchain-cross.cmake.
#
#   scripts/cross-sysroot.sh mipsel
#   cmake -S . -B build-mipsel -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-mipsel.cmake \
#         -DCR_DEVICE_ONLY=ON
set(CR_CROSS_ARCH mipsel)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-cross.cmake)
