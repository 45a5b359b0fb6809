# Run at install time (through install(CODE), see korhal_install_configured
# in deploy/CMakeLists.txt): writes KI_TEMPLATE as KI_DEST/KI_NAME with
# @CMAKE_INSTALL_FULL_BINDIR@ and @CMAKE_INSTALL_FULL_DOCDIR@ taken from the
# prefix of this install, so that `cmake --install --prefix P` yields units
# naming P/bin, not the prefix the tree was configured with.
foreach(_ki_v KI_BINDIR KI_DOCDIR KI_DEST)
  if(NOT IS_ABSOLUTE "${${_ki_v}}")
    set(${_ki_v} "${CMAKE_INSTALL_PREFIX}/${${_ki_v}}")
  endif()
endforeach()
set(CMAKE_INSTALL_FULL_BINDIR "${KI_BINDIR}")
set(CMAKE_INSTALL_FULL_DOCDIR "${KI_DOCDIR}")
set(_ki_file "$ENV{DESTDIR}${KI_DEST}/${KI_NAME}")
message(STATUS "Installing: ${_ki_file}")
configure_file("${KI_TEMPLATE}" "${_ki_file}" @ONLY)
file(CHMOD "${_ki_file}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# Listed like every installed file (without DESTDIR), so that uninstalling
# with install_manifest.txt removes it too.
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${KI_DEST}/${KI_NAME}")
