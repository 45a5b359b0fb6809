# Hardening (OpenSSF compiler options guide, short list) or sanitizers.
include(CheckCCompilerFlag)

if(CR_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -O1 -g)
  add_link_options(-fsanitize=address,undefined)
else()
  add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
  foreach(flag -fstack-protector-strong -fstack-clash-protection
               -fcf-protection=full -mbranch-protection=standard)
    string(MAKE_C_IDENTIFIER "HAVE_CFLAG${flag}" var)
    check_c_compiler_flag("${flag}" ${var})
    if(${var})
      add_compile_options("${flag}")
    endif()
  endforeach()
  if(NOT CMAKE_CROSSCOMPILING)
    add_link_options(-pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)
  endif()
endif()
