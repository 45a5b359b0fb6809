# Warning flags, each added only if the compiler accepts it: device
# cross-compilers lag behind the host's.  (-Wcast-qual is left out:
# protobuf-c's generated INIT macros cast away const from its empty-string
# sentinel in every file that uses them.)
include(CheckCCompilerFlag)

function(cr_add_c_flag_if_supported flag)
  string(MAKE_C_IDENTIFIER "HAVE_CFLAG${flag}" var)
  check_c_compiler_flag("${flag}" ${var})
  if(${var})
    add_compile_options("${flag}")
  endif()
endfunction()

foreach(flag
    -Wall -Wextra -Wformat=2 -Werror=format-security -Wshadow -Wpointer-arith
    -Wstrict-prototypes -Wmissing-prototypes
    -Wmissing-declarations -Wold-style-definition -Wredundant-decls -Wundef
    -Wwrite-strings -Wvla -Wimplicit-fallthrough -Wno-unused-parameter
    -Wlogical-op -Wtrampolines
    -Werror=implicit-function-declaration -Werror=incompatible-pointer-types
    -Werror=int-conversion -fno-common -fno-strict-aliasing -fwrapv)
  cr_add_c_flag_if_supported(${flag})
endforeach()
