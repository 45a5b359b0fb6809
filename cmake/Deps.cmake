# Every dependency comes from a Debian -dev package and is found through
# pkg-config.  Cross builds point PKG_CONFIG_LIBDIR at their sysroot.
find_package(PkgConfig REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(EVENT REQUIRED IMPORTED_TARGET libevent)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
find_path(LMDB_INCLUDE_DIR lmdb.h REQUIRED)
find_library(LMDB_LIBRARY NAMES lmdb REQUIRED)
add_library(lmdb::lmdb UNKNOWN IMPORTED)
set_target_properties(lmdb::lmdb PROPERTIES IMPORTED_LOCATION ${LMDB_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${LMDB_INCLUDE_DIR})
if(NOT CR_DEVICE_ONLY)
  pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET openssl)
endif()
# json-c: OCI documents, --json output and test vectors; small enough for
# devices.
pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c)
if(CR_TESTS)
  pkg_check_modules(CHECK REQUIRED IMPORTED_TARGET check)
endif()
find_program(PROTOC_C protoc-c REQUIRED)
