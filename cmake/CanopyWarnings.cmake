# canopy_set_warnings(target): the project's warning policy, per target.
#
# -Wall -Wextra, as errors when CANOPY_WERROR is ON. Exceptions, each for a reason:
#  * -Wno-missing-field-initializers: designated initializers that leave
#    members at their defaults are the house style for rows.
#  * GCC only, -Wno-maybe-uninitialized: GCC 12 at -O2 reports false positives
#    through std::variant/std::optional moves (e.g. pushing a RowChange into a
#    vector) and through out-parameters set on the success path; each is pages
#    long and none was a real bug. -Wuninitialized (definite use) stays an error.
#  * GCC only, -Warray-bounds/-Wstringop-overflow/-Wstringop-overread stay
#    warnings but not errors: at -O3 (Release) GCC 12 reports impossible
#    out-of-bounds accesses inside std::vector (e.g. resize(1) of a large
#    vector), so a Release build must not fail on them. Look at them anyway.
# Option CANOPY_WERROR (default OFF) adds -Werror. It is off by default so
# that a newer compiler's new warning does not break someone's build of a
# release; scripts/test (CI) turns it on for every build it makes, and the
# default build (any CMAKE_BUILD_TYPE, GCC 12) is kept warning-free.
option(CANOPY_WERROR "Treat compiler warnings as errors in canopy targets" OFF)

function(canopy_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-missing-field-initializers)
  if(CANOPY_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized -Wno-error=array-bounds
                           -Wno-error=stringop-overflow -Wno-error=stringop-overread)
  endif()
endfunction()
