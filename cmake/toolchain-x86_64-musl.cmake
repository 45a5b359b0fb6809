# x86_64 against musl instead of glibc (the host's musl-dev, libraries
# built from Debian's sources): a static device build that shows what is
# glibc-only, runs here without qemu.  See cmake/toolchain-cross.cmake and
# docs/packaging.md ("musl builds").
#
#   scripts/cross-sysroot.sh x86_64-musl
#   cmake -S . -B build-x86_64-musl -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-x86_64-musl.cmake \
#         -DCR_DEVICE_ONLY=ON
set(CR_CROSS_ARCH x86_64)
set(CR_CROSS_LIBC musl)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-cross.cmake)
