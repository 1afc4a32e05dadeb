# CanopySanitizers.cmake — the CANOPY_SANITIZE build option.
#
#   cmake -DCANOPY_SANITIZE=address,undefined ...   # ASan + UBSan
#   cmake -DCANOPY_SANITIZE=thread ...              # TSan
#   cmake -DCANOPY_SANITIZE= ...                    # off (the default)
#
# canopy_enable_sanitizers() (called once, from the top-level CMakeLists.txt
# before any add_subdirectory) validates the value and, when it is set, adds
#   -fsanitize=<value> -fno-omit-frame-pointer [-fno-sanitize-recover=undefined]
# to the compile AND link lines of every target defined in the calling
# directory and below (directory scope, so every canopy library, test and
# benchmark gets it without each CMakeLists.txt opting in). It is not part of
# any target's usage requirements, so it is never exported to consumers: an
# installed sanitized static library still needs the consumer to link with the
# same -fsanitize flag, which is why installs are made from plain builds.
#
# Notes:
#  * UBSan is made fatal at compile time (-fno-sanitize-recover=undefined) so a
#    finding fails its test even without UBSAN_OPTIONS=halt_on_error=1.
#  * GCC >= 11 warns (-Wtsan) that TSan does not model atomic_thread_fence; with
#    -Werror that would stop the build, so under TSan it stays a warning.
#  * TSan on kernels with high mmap entropy may abort with "unexpected memory
#    mapping"; scripts/test re-runs such test runs under `setarch -R`.

include_guard(GLOBAL)
include(CheckCXXCompilerFlag)

set(CANOPY_SANITIZE "" CACHE STRING
    "Sanitizers for every canopy target: empty, \"address,undefined\" or \"thread\"")
set_property(CACHE CANOPY_SANITIZE PROPERTY STRINGS "" "address,undefined" "address" "undefined" "thread")

function(canopy_enable_sanitizers)
  if(NOT CANOPY_SANITIZE STREQUAL "")
    string(REPLACE " " "" _canopy_san "${CANOPY_SANITIZE}")
    string(REPLACE "," ";" _canopy_san_list "${_canopy_san}")
    foreach(_s IN LISTS _canopy_san_list)
      if(NOT _s MATCHES "^(address|undefined|thread|leak)$")
        message(FATAL_ERROR "CANOPY_SANITIZE: unknown sanitizer '${_s}' in '${CANOPY_SANITIZE}'")
      endif()
    endforeach()
    if("thread" IN_LIST _canopy_san_list AND ("address" IN_LIST _canopy_san_list OR "leak" IN_LIST _canopy_san_list))
      message(FATAL_ERROR "CANOPY_SANITIZE: 'thread' cannot be combined with 'address'/'leak'")
    endif()

    set(_canopy_san_flags -fsanitize=${_canopy_san} -fno-omit-frame-pointer)
    if("undefined" IN_LIST _canopy_san_list)
      list(APPEND _canopy_san_flags -fno-sanitize-recover=undefined)
    endif()
    string(MAKE_C_IDENTIFIER "CANOPY_HAVE_SANITIZE_${_canopy_san}" _canopy_san_var)
    set(CMAKE_REQUIRED_LINK_OPTIONS -fsanitize=${_canopy_san})
    check_cxx_compiler_flag(-fsanitize=${_canopy_san} ${_canopy_san_var})
    unset(CMAKE_REQUIRED_LINK_OPTIONS)
    if(NOT ${_canopy_san_var})
      message(FATAL_ERROR "CANOPY_SANITIZE=${CANOPY_SANITIZE}: the compiler/runtime cannot build with it "
                          "(missing libasan/libubsan/libtsan?)")
    endif()

    add_compile_options(${_canopy_san_flags})
    add_link_options(-fsanitize=${_canopy_san})
    if("thread" IN_LIST _canopy_san_list)
      check_cxx_compiler_flag(-Wno-error=tsan CANOPY_HAVE_WNO_ERROR_TSAN)
      if(CANOPY_HAVE_WNO_ERROR_TSAN)
        add_compile_options(-Wno-error=tsan)
      endif()
    endif()
    message(STATUS "canopy: sanitizers on: ${_canopy_san_flags}")
  endif()
endfunction()
