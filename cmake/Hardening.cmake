# Hardening (OpenSSF compiler options guide, short list) or sanitizers.
include(CheckCCompilerFlag)

if(CR_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -O1 -g)
  add_link_options(-fsanitize=address,undefined)
else()
  add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
  set(cr_hardening_flags -fstack-protector-strong -fstack-clash-protection)
  # Architecture-specific: clang accepts both anywhere in the flag check but
  # then warns that one is unused, which -Werror turns into a failure.
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i.86)$")
    list(APPEND cr_hardening_flags -fcf-protection=full)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
    list(APPEND cr_hardening_flags -mbranch-protection=standard)
  endif()
  foreach(flag IN LISTS cr_hardening_flags)
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
