# Cross build for Debian armel (ARMv5TE, soft-float EABI, no FPU): see cmake/toolchain-cross.cmake.
#
#   scripts/armel-sysroot.sh   (or scripts/cross-sysroot.sh armel)
#   cmake -S . -B build-armel -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-armel.cmake \
#         -DCR_DEVICE_ONLY=ON
set(CR_CROSS_ARCH armel)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-cross.cmake)
