# Cross build for Debian armhf (ARMv7, VFPv3-D16, hard-float EABI): see cmake/toolchain-cross.cmake.
#
#   scripts/cross-sysroot.sh armhf
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-armhf.cmake \
#         -DCR_DEVICE_ONLY=ON
set(CR_CROSS_ARCH armhf)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-cross.cmake)
