# Every dependency comes from a Debian -dev package and is found through
# pkg-config.  Cross builds point PKG_CONFIG_LIBDIR at their sysroot.
find_package(PkgConfig REQUIRED)
# Static builds (CR_STATIC, set by cmake/toolchain-armel.cmake) link .a files
# and need each package's Libs.private as well.
option(CR_STATIC "Link executables statically" OFF)
if(CR_STATIC)
  set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
endif()
macro(cr_pkg_static prefix)
  if(CR_STATIC)
    set_property(TARGET PkgConfig::${prefix} APPEND PROPERTY
      INTERFACE_LINK_LIBRARIES ${${prefix}_STATIC_LDFLAGS})
  endif()
endmacro()
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
cr_pkg_static(SODIUM)
pkg_check_modules(EVENT REQUIRED IMPORTED_TARGET libevent)
cr_pkg_static(EVENT)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
cr_pkg_static(PROTOBUFC)
find_path(LMDB_INCLUDE_DIR lmdb.h REQUIRED)
find_library(LMDB_LIBRARY NAMES lmdb REQUIRED)
add_library(lmdb::lmdb UNKNOWN IMPORTED)
set_target_properties(lmdb::lmdb PROPERTIES IMPORTED_LOCATION ${LMDB_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${LMDB_INCLUDE_DIR})
if(CR_STATIC)
  set_property(TARGET lmdb::lmdb APPEND PROPERTY INTERFACE_LINK_LIBRARIES -pthread)
endif()
# OpenSSL: the TLS of the TCP fallback (cr_tls) everywhere, and the AEAD
# for large datagrams on hosts (common/CMakeLists.txt).  The armel sysroot
# has Debian's libssl.a and libcrypto.a.
pkg_check_modules(OPENSSL IMPORTED_TARGET openssl)
if(NOT OPENSSL_FOUND AND NOT CR_DEVICE_ONLY)
  message(FATAL_ERROR "OpenSSL not found (Debian: libssl-dev)")
endif()
if(OPENSSL_FOUND)
  cr_pkg_static(OPENSSL)
  # TLS on libevent's bufferevents: the TCP fallback (cr_tls) and
  # archon's https origins.
  pkg_check_modules(EVENT_OPENSSL REQUIRED IMPORTED_TARGET libevent_openssl)
  cr_pkg_static(EVENT_OPENSSL)
endif()
# zstd: Archon's compressed chunks (ar_format, the store, the ring node's
# shard cache).
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
cr_pkg_static(ZSTD)
# zlib: the inflate of archon's gzip-compressed OCI layers (tar.c).
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
cr_pkg_static(ZLIB)
# json-c: OCI documents, --json output and test vectors; small enough for
# devices.
pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c)
cr_pkg_static(JSONC)
if(CR_TESTS)
  pkg_check_modules(CHECK REQUIRED IMPORTED_TARGET check)
  cr_pkg_static(CHECK)
endif()
find_program(PROTOC_C protoc-c REQUIRED)
