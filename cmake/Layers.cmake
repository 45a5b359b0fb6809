# The layers: which library may link which (docs/design/layers.md).
# Included at the end of the top-level CMakeLists.txt, once every target is
# defined; a link or an include directory that breaks the table stops the
# configuration with FATAL_ERROR, so a forbidden dependency never builds.
#
# CR_LAYER_<target>: the project libraries <target> may link directly.
# Every entry below is itself checked, so what a target reaches through
# them stays below it too.  Tests, fuzz harnesses, benchmarks and test tools
# are not in the table: they may link whatever they exercise.
set(CR_LAYER_cp_proto "")
set(CR_LAYER_cr_base "")
set(CR_LAYER_cr_crypto cr_base)
set(CR_LAYER_cr_hop cr_base cr_crypto cp_proto)
set(CR_LAYER_cr_e2e cr_base cr_crypto cp_proto cr_hop)
set(CR_LAYER_cr_records cr_base cr_crypto cp_proto)
set(CR_LAYER_cr_fleet cr_base cr_crypto cp_proto)
set(CR_LAYER_cr_tls cr_base cr_crypto cp_proto cr_hop)
set(CR_LAYER_cr_link cr_base cr_crypto cp_proto cr_hop cr_records)
set(CR_LAYER_ar_format cr_base cr_crypto)
# Components: each program's library, above common/.
set(CR_LAYER_rn_node cr_base cr_crypto cp_proto cr_hop cr_e2e cr_records
  cr_tls ar_format cr_fleet)
set(CR_LAYER_da_agent cr_base cr_crypto cp_proto cr_hop cr_e2e cr_records
  cr_link cr_tls ar_format ar_store bo_runtime cr_fleet)
set(CR_LAYER_ar_store cr_base cr_crypto cr_records ar_format cr_tls)
set(CR_LAYER_bo_runtime cr_base)
# Programs: a thin main over their component (the CLI's is cl_cli).
set(CR_LAYER_carrier-node rn_node)
set(CR_LAYER_carrier-agent da_agent)
set(CR_LAYER_archon ar_store)
set(CR_LAYER_bolter bo_runtime)
# korhal-device: the three device programs' mains in one executable.
set(CR_LAYER_korhal-device da_agent ar_store bo_runtime)
set(CR_LAYER_cl_cli cr_base cr_crypto cp_proto cr_hop cr_e2e cr_records
  cr_link cr_tls cr_fleet ar_format)
set(CR_LAYER_carrier cl_cli)

# CR_LAYER_EXT_<target>: the outside libraries (imported targets) a library
# of common/ may link: the base stays free of OpenSSL and zstd, the crypto
# layer of TLS, and so on.
set(CR_LAYER_EXT_cp_proto PkgConfig::PROTOBUFC)
set(CR_LAYER_EXT_cr_base PkgConfig::EVENT PkgConfig::SODIUM lmdb::lmdb)
set(CR_LAYER_EXT_cr_crypto PkgConfig::SODIUM PkgConfig::OPENSSL)
set(CR_LAYER_EXT_cr_hop PkgConfig::EVENT)
set(CR_LAYER_EXT_cr_e2e PkgConfig::EVENT)
set(CR_LAYER_EXT_cr_records "")
set(CR_LAYER_EXT_cr_fleet "")
set(CR_LAYER_EXT_cr_tls PkgConfig::EVENT PkgConfig::SODIUM PkgConfig::EVENT_OPENSSL
  PkgConfig::OPENSSL mbedtls::mbedtls)
set(CR_LAYER_EXT_cr_link PkgConfig::EVENT PkgConfig::SODIUM)
set(CR_LAYER_EXT_ar_format PkgConfig::SODIUM PkgConfig::ZSTD)

set(CR_LAYER_TARGETS cp_proto cr_base cr_crypto cr_hop cr_e2e cr_records
  cr_fleet cr_link cr_tls ar_format rn_node da_agent ar_store bo_runtime carrier-node
  carrier-agent archon bolter korhal-device cl_cli carrier)

function(cr_check_layers)
  set(errors "")
  foreach(t IN LISTS CR_LAYER_TARGETS)
    if(NOT TARGET ${t})
      continue() # not in this build (CR_DEVICE_ONLY, CR_DEVICE_TLS=OFF)
    endif()
    # Links: the target's own (LINK_LIBRARIES) and what it passes on.
    get_target_property(own ${t} LINK_LIBRARIES)
    get_target_property(iface ${t} INTERFACE_LINK_LIBRARIES)
    set(deps "")
    foreach(d IN LISTS own iface)
      if(d MATCHES "^\\$<LINK_ONLY:(.+)>$")
        set(d "${CMAKE_MATCH_1}")
      endif()
      if(d AND TARGET "${d}")
        list(APPEND deps "${d}")
      endif()
    endforeach()
    list(REMOVE_DUPLICATES deps)
    list(JOIN CR_LAYER_${t} ", " allowed)
    list(JOIN CR_LAYER_EXT_${t} ", " allowed_ext)
    foreach(d IN LISTS deps)
      get_target_property(imported ${d} IMPORTED)
      if(imported)
        if(DEFINED CR_LAYER_EXT_${t} AND NOT d IN_LIST CR_LAYER_EXT_${t})
          list(APPEND errors "${t} links ${d} (outside libraries allowed: ${allowed_ext})")
        endif()
      elseif(NOT d IN_LIST CR_LAYER_${t})
        list(APPEND errors "${t} links ${d} (allowed: ${allowed})")
      endif()
    endforeach()
    # Includes: a library exports only include/ folders, never a src/ ...
    get_target_property(pub ${t} INTERFACE_INCLUDE_DIRECTORIES)
    foreach(dir IN LISTS pub)
      if(dir MATCHES "/src/?$")
        list(APPEND errors "${t} exports its private folder ${dir}")
      endif()
    endforeach()
    # ... and reads no src/ folder but the ones its own sources are in.
    get_target_property(srcdir ${t} SOURCE_DIR)
    get_target_property(srcs ${t} SOURCES)
    set(own_dirs "")
    foreach(s IN LISTS srcs)
      get_filename_component(s "${s}" ABSOLUTE BASE_DIR "${srcdir}")
      get_filename_component(s "${s}" DIRECTORY)
      list(APPEND own_dirs "${s}")
    endforeach()
    get_target_property(priv ${t} INCLUDE_DIRECTORIES)
    foreach(dir IN LISTS priv)
      get_filename_component(abs "${dir}" ABSOLUTE BASE_DIR "${srcdir}")
      if(abs MATCHES "/src/?$" AND NOT abs IN_LIST own_dirs)
        list(APPEND errors "${t} includes another target's private folder ${dir}")
      endif()
    endforeach()
  endforeach()
  if(errors)
    list(JOIN errors "\n  " msg)
    message(FATAL_ERROR "layering broken (cmake/Layers.cmake, "
      "docs/design/layers.md):\n  ${msg}")
  endif()
endfunction()
cr_check_layers()
