# Cross build for Debian armel (ARMv5TE, soft-float EABI, no FPU) with
# Debian's gcc-arm-linux-gnueabi, linked statically against the sysroot
# that scripts/armel-sysroot.sh unpacks.  Tests run under qemu-arm-static.
#
#   scripts/armel-sysroot.sh
#   cmake -S . -B build-armel -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-armel.cmake \
#         -DCR_DEVICE_ONLY=ON
#
# CR_ARMEL_SYSROOT overrides the sysroot (default <repo>/.sysroot-armel/sysroot).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CR_ARMEL_TRIPLE arm-linux-gnueabi)
set(CMAKE_C_COMPILER ${CR_ARMEL_TRIPLE}-gcc)
# The libraries lag the host's; gcc's own libc lives in /usr/<triple>.
if(NOT CR_ARMEL_SYSROOT)
  if(DEFINED ENV{CR_ARMEL_SYSROOT})
    set(CR_ARMEL_SYSROOT $ENV{CR_ARMEL_SYSROOT})
  else()
    get_filename_component(CR_ARMEL_SYSROOT
      ${CMAKE_CURRENT_LIST_DIR}/../.sysroot-armel/sysroot ABSOLUTE)
  endif()
endif()
set(CR_ARMEL_SYSROOT ${CR_ARMEL_SYSROOT} CACHE PATH "armel library sysroot")
# try_compile projects re-read this file; hand them the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CR_ARMEL_SYSROOT)
if(NOT EXISTS ${CR_ARMEL_SYSROOT}/usr/include/sodium.h)
  message(FATAL_ERROR "armel sysroot missing at ${CR_ARMEL_SYSROOT}: "
    "run scripts/armel-sysroot.sh")
endif()
set(CR_ARMEL_LIBDIR ${CR_ARMEL_SYSROOT}/usr/lib/${CR_ARMEL_TRIPLE})

# Look for headers and libraries only in the sysroot and the cross libc,
# for programs (protoc-c) only on the host.
set(CMAKE_FIND_ROOT_PATH ${CR_ARMEL_SYSROOT} /usr/${CR_ARMEL_TRIPLE})
# Debian keeps some architecture-specific headers (openssl/configuration.h)
# in the multiarch include folder, which no .pc file names.
set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES
  ${CR_ARMEL_SYSROOT}/usr/include/${CR_ARMEL_TRIPLE})
set(CMAKE_LIBRARY_ARCHITECTURE ${CR_ARMEL_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads only the sysroot's .pc files and prefixes their paths.
set(ENV{PKG_CONFIG_LIBDIR}
  "${CR_ARMEL_LIBDIR}/pkgconfig:${CR_ARMEL_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${CR_ARMEL_SYSROOT})
unset(ENV{PKG_CONFIG_PATH})

# Fully static executables: cmake/Deps.cmake picks .a files and the
# Libs.private of every package when CR_STATIC is on.
set(CR_STATIC ON CACHE BOOL "Link executables statically" FORCE)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -L${CR_ARMEL_LIBDIR}")

# ctest runs the ARM test programs through qemu's user-mode emulator.
find_program(CR_QEMU_ARM NAMES qemu-arm-static qemu-arm)
if(CR_QEMU_ARM)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${CR_QEMU_ARM})
endif()
