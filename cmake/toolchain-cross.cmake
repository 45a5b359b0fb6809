# Cross build for one Debian architecture with Debian's cross compiler,
# linked statically against the sysroot that scripts/cross-sysroot.sh
# unpacks; ctest runs the tests under qemu-user.  Included by
# cmake/toolchain-<arch>.cmake, which sets CR_CROSS_ARCH:
#
#   arch    compiler triple        qemu        ABI
#   armel   arm-linux-gnueabi      qemu-arm    ARMv5TE, soft-float EABI, no FPU
#   armhf   arm-linux-gnueabihf    qemu-arm    ARMv7, VFPv3-D16, hard-float
#   arm64   aarch64-linux-gnu      qemu-aarch64
#   mipsel  mipsel-linux-gnu       qemu-mipsel MIPS32r2 o32, little-endian
#   mips    mips-linux-gnu         qemu-mips   MIPS32r2 o32, big-endian
#
#   scripts/cross-sysroot.sh armhf
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-armhf.cmake \
#         -DCR_DEVICE_ONLY=ON
#
# CR_CROSS_SYSROOT overrides the sysroot (default <repo>/.sysroot-<arch>/sysroot;
# for armel CR_ARMEL_SYSROOT too, its older name).
#
# With CR_CROSS_LIBC musl (cmake/toolchain-armel-musl.cmake,
# toolchain-x86_64-musl.cmake) the C library is musl, not glibc: the
# sysroot is <repo>/.sysroot-<arch>-musl/sysroot (scripts/cross-sysroot.sh
# <arch>-musl builds it from Debian's sources), and the compiler its
# musl/bin/musl-gcc, Debian's gcc with a specs file (docs/packaging.md).
# CR_CROSS_ARCH x86_64 is only for musl (the host's own glibc build needs
# no toolchain file).
set(CMAKE_SYSTEM_NAME Linux)

if(CR_CROSS_ARCH STREQUAL "armel")
  set(CR_CROSS_TRIPLE arm-linux-gnueabi)
  set(CR_CROSS_QEMU arm)
  set(CMAKE_SYSTEM_PROCESSOR arm)
elseif(CR_CROSS_ARCH STREQUAL "armhf")
  set(CR_CROSS_TRIPLE arm-linux-gnueabihf)
  set(CR_CROSS_QEMU arm)
  set(CMAKE_SYSTEM_PROCESSOR arm)
elseif(CR_CROSS_ARCH STREQUAL "arm64")
  set(CR_CROSS_TRIPLE aarch64-linux-gnu)
  set(CR_CROSS_QEMU aarch64)
  set(CMAKE_SYSTEM_PROCESSOR aarch64)
elseif(CR_CROSS_ARCH STREQUAL "mipsel")
  set(CR_CROSS_TRIPLE mipsel-linux-gnu)
  set(CR_CROSS_QEMU mipsel)
  set(CMAKE_SYSTEM_PROCESSOR mipsel)
elseif(CR_CROSS_ARCH STREQUAL "mips")
  set(CR_CROSS_TRIPLE mips-linux-gnu)
  set(CR_CROSS_QEMU mips)
  set(CMAKE_SYSTEM_PROCESSOR mips)
elseif(CR_CROSS_ARCH STREQUAL "x86_64" AND CR_CROSS_LIBC STREQUAL "musl")
  set(CR_CROSS_TRIPLE x86_64-linux-gnu)
  set(CMAKE_SYSTEM_PROCESSOR x86_64)
else()
  message(FATAL_ERROR "toolchain-cross.cmake: CR_CROSS_ARCH '${CR_CROSS_ARCH}' "
    "is none of armel armhf arm64 mipsel mips (x86_64 with musl)")
endif()
if(NOT CR_CROSS_LIBC)
  set(CR_CROSS_LIBC glibc)
endif()
# The sysroot's folder: .sysroot-armel, .sysroot-armel-musl.
set(CR_CROSS_FLAVOUR ${CR_CROSS_ARCH})
if(CR_CROSS_LIBC STREQUAL "musl")
  set(CR_CROSS_FLAVOUR ${CR_CROSS_ARCH}-musl)
endif()
if(NOT CR_CROSS_SYSROOT)
  if(CR_CROSS_FLAVOUR STREQUAL "armel" AND CR_ARMEL_SYSROOT)
    set(CR_CROSS_SYSROOT ${CR_ARMEL_SYSROOT})
  elseif(DEFINED ENV{CR_CROSS_SYSROOT})
    set(CR_CROSS_SYSROOT $ENV{CR_CROSS_SYSROOT})
  elseif(CR_CROSS_FLAVOUR STREQUAL "armel" AND DEFINED ENV{CR_ARMEL_SYSROOT})
    set(CR_CROSS_SYSROOT $ENV{CR_ARMEL_SYSROOT})
  else()
    get_filename_component(CR_CROSS_SYSROOT
      ${CMAKE_CURRENT_LIST_DIR}/../.sysroot-${CR_CROSS_FLAVOUR}/sysroot ABSOLUTE)
  endif()
endif()
set(CR_CROSS_SYSROOT ${CR_CROSS_SYSROOT} CACHE PATH "${CR_CROSS_FLAVOUR} library sysroot")
# try_compile projects re-read this file; hand them the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CR_CROSS_SYSROOT)
if(NOT EXISTS ${CR_CROSS_SYSROOT}/usr/include/sodium.h)
  message(FATAL_ERROR "${CR_CROSS_FLAVOUR} sysroot missing at ${CR_CROSS_SYSROOT}: "
    "run scripts/cross-sysroot.sh ${CR_CROSS_FLAVOUR}")
endif()
set(CR_CROSS_LIBDIR ${CR_CROSS_SYSROOT}/usr/lib/${CR_CROSS_TRIPLE})

if(CR_CROSS_LIBC STREQUAL "musl")
  set(CMAKE_C_COMPILER ${CR_CROSS_SYSROOT}/musl/bin/musl-gcc)
  # Debian's binutils for the triple (CMake would look for them beside
  # the driver).
  find_program(CMAKE_AR ${CR_CROSS_TRIPLE}-ar)
  find_program(CMAKE_RANLIB ${CR_CROSS_TRIPLE}-ranlib)
  find_program(CMAKE_STRIP ${CR_CROSS_TRIPLE}-strip)
  find_program(CMAKE_OBJCOPY ${CR_CROSS_TRIPLE}-objcopy)
  find_program(CMAKE_NM ${CR_CROSS_TRIPLE}-nm)
  set(CR_CROSS_LIBC_ROOT ${CR_CROSS_SYSROOT}/musl)
else()
  set(CMAKE_C_COMPILER ${CR_CROSS_TRIPLE}-gcc)
  # The libraries lag the host's; gcc's own libc lives in /usr/<triple>.
  set(CR_CROSS_LIBC_ROOT /usr/${CR_CROSS_TRIPLE})
endif()

# Look for headers and libraries only in the sysroot and the cross libc,
# for programs (protoc-c) only on the host.
set(CMAKE_FIND_ROOT_PATH ${CR_CROSS_SYSROOT} ${CR_CROSS_LIBC_ROOT})
# Debian keeps some architecture-specific headers (openssl/configuration.h)
# in the multiarch include folder, which no .pc file names.
set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES
  ${CR_CROSS_SYSROOT}/usr/include/${CR_CROSS_TRIPLE})
set(CMAKE_LIBRARY_ARCHITECTURE ${CR_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads only the sysroot's .pc files and prefixes their paths.
set(ENV{PKG_CONFIG_LIBDIR}
  "${CR_CROSS_LIBDIR}/pkgconfig:${CR_CROSS_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${CR_CROSS_SYSROOT})
unset(ENV{PKG_CONFIG_PATH})

# Fully static executables: cmake/Deps.cmake picks .a files and the
# Libs.private of every package when CR_STATIC is on.
set(CR_STATIC ON CACHE BOOL "Link executables statically" FORCE)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -L${CR_CROSS_LIBDIR}")

# ctest runs the test programs through qemu's user-mode emulator
# (tests/CMakeLists.txt sets CR_UNDER_QEMU=1 in their environment, which
# qemu-user hands to the guest, so the slow tests scale down).
if(CR_CROSS_QEMU)
  find_program(CR_QEMU NAMES qemu-${CR_CROSS_QEMU}-static qemu-${CR_CROSS_QEMU})
endif()
if(CR_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${CR_QEMU})
endif()
