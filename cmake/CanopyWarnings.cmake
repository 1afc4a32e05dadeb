# canopy_set_warnings(target): the project's warning policy, per target.
#
# -Wall -Wextra as errors. Exceptions, each for a reason:
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
# Option CANOPY_WERROR (default ON) turns -Werror off for local experiments.
option(CANOPY_WERROR "Treat compiler warnings as errors in canopy targets" ON)

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
