# CanopyPackageStrip.cmake — a CPACK_PRE_BUILD_SCRIPTS script (cmake/Packaging.cmake).
#
# CPACK_STRIP_FILES strips the programs but leaves static libraries alone. Run
# after CPack installed the packages' files into its staging tree and before it
# packs them, this does what Debian's dh_strip does to a -dev package: drops
# the debug info and .comment/.note sections of every static library (the
# debug info of a -g build is most of their size), deterministically, and
# drops .comment from the programs.
if(NOT CPACK_TEMPORARY_INSTALL_DIRECTORY OR NOT EXISTS "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
  return()
endif()
find_program(_canopy_strip NAMES "${CPACK_STRIP_PROGRAM}" strip)
if(NOT _canopy_strip)
  message(WARNING "canopy: no strip program; static libraries keep their debug info")
  return()
endif()
file(GLOB_RECURSE _canopy_archives LIST_DIRECTORIES false "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*.a")
foreach(_canopy_archive IN LISTS _canopy_archives)
  execute_process(
    COMMAND "${_canopy_strip}" --strip-debug --enable-deterministic-archives
            --remove-section=.comment --remove-section=.note "${_canopy_archive}"
    RESULT_VARIABLE _canopy_rc)
  if(NOT _canopy_rc EQUAL 0)
    message(FATAL_ERROR "canopy: strip failed on ${_canopy_archive}")
  endif()
endforeach()
file(GLOB_RECURSE _canopy_programs LIST_DIRECTORIES false "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*")
list(FILTER _canopy_programs INCLUDE REGEX "/bin/[^/]+$")
foreach(_canopy_program IN LISTS _canopy_programs)
  execute_process(COMMAND "${_canopy_strip}" --remove-section=.comment --remove-section=.note
                          "${_canopy_program}" RESULT_VARIABLE _canopy_rc)
endforeach()
