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
# The TLS client (common/carrier/tls, cr/tlsclient.h) of the agent's TCP
# fallback and archon's https origins: OpenSSL on hosts, mbedTLS on
# devices (a static device binary without OpenSSL's 3 MB; docs/tls.md).
# Nodes keep OpenSSL for the server side either way.  mbedTLS is found
# without pkg-config (Debian's 2.28 ships no .pc file): libmbedtls.a,
# libmbedx509.a and libmbedcrypto.a and include/mbedtls/ in the sysroot, or
# under -DMBEDTLS_ROOT=DIR.
if(CR_DEVICE_ONLY)
  set(CR_TLS_BACKEND_DEFAULT mbedtls)
else()
  set(CR_TLS_BACKEND_DEFAULT openssl)
endif()
set(CR_TLS_BACKEND ${CR_TLS_BACKEND_DEFAULT} CACHE STRING
  "The TLS client's library: openssl or mbedtls (device builds: mbedtls)")
set_property(CACHE CR_TLS_BACKEND PROPERTY STRINGS openssl mbedtls)
if(CR_TLS_BACKEND STREQUAL "mbedtls")
  set(mbedtls_hints)
  if(MBEDTLS_ROOT)
    set(mbedtls_hints ${MBEDTLS_ROOT} ${MBEDTLS_ROOT}/usr)
  endif()
  find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h HINTS ${mbedtls_hints}
    PATH_SUFFIXES include)
  # The static archives first, on hosts too: nothing to install beside
  # the program.
  foreach(l mbedtls mbedx509 mbedcrypto)
    string(TOUPPER ${l} L)
    find_library(${L}_LIBRARY NAMES lib${l}.a ${l} HINTS ${mbedtls_hints}
      PATH_SUFFIXES lib lib/${CMAKE_LIBRARY_ARCHITECTURE})
  endforeach()
  if(MBEDTLS_INCLUDE_DIR AND MBEDTLS_LIBRARY AND MBEDX509_LIBRARY AND MBEDCRYPTO_LIBRARY)
    add_library(mbedtls::mbedtls INTERFACE IMPORTED)
    set_target_properties(mbedtls::mbedtls PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES ${MBEDTLS_INCLUDE_DIR}
      INTERFACE_LINK_LIBRARIES "${MBEDTLS_LIBRARY};${MBEDX509_LIBRARY};${MBEDCRYPTO_LIBRARY}")
  elseif(NOT CR_DEVICE_ONLY OR NOT DEFINED CR_DEVICE_TLS OR CR_DEVICE_TLS)
    message(FATAL_ERROR "CR_TLS_BACKEND=mbedtls: mbedTLS not found (Debian: "
      "libmbedtls-dev; cross builds: scripts/cross-sysroot.sh ARCH; or "
      "-DMBEDTLS_ROOT=DIR, -DCR_TLS_BACKEND=openssl, -DCR_DEVICE_TLS=OFF)")
  endif()
elseif(NOT CR_TLS_BACKEND STREQUAL "openssl")
  message(FATAL_ERROR "CR_TLS_BACKEND=${CR_TLS_BACKEND}: want openssl or mbedtls")
endif()
# zstd: Archon's compressed chunks (ar_format, the store, the ring node's
# shard cache).
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
cr_pkg_static(ZSTD)
# json-c: OCI documents, --json output and test vectors; small enough for
# devices.
pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c)
cr_pkg_static(JSONC)
if(CR_TESTS)
  pkg_check_modules(CHECK REQUIRED IMPORTED_TARGET check)
  cr_pkg_static(CHECK)
endif()
find_program(PROTOC_C protoc-c REQUIRED)
