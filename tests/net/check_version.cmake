# check_version.cmake — run by ctest (test canopy_version, tests/net/CMakeLists.txt):
#
#   cmake -DCANOPYD=<canopyd> -DCANOPY_CLI=<canopy> -DVERSION=<project version> -P check_version.cmake
#
# Both programs' `--version` must exit 0 and print exactly "<name> <VERSION>\n"
# on stdout (nothing on stderr), VERSION being project(canopy VERSION ...).
foreach(var CANOPYD CANOPY_CLI VERSION)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_version.cmake: -D${var}=... is required")
  endif()
endforeach()

set(failures 0)
foreach(pair "canopyd;${CANOPYD}" "canopy;${CANOPY_CLI}")
  list(GET pair 0 name)
  list(GET pair 1 program)
  execute_process(COMMAND "${program}" --version
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 30)
  set(want "${name} ${VERSION}\n")
  if(NOT rc STREQUAL "0" OR NOT out STREQUAL want OR NOT err STREQUAL "")
    message(SEND_ERROR "${program} --version: exit ${rc}, stdout '${out}', stderr '${err}'; "
                       "want exit 0 and stdout '${want}'")
    math(EXPR failures "${failures} + 1")
  else()
    message(STATUS "ok: ${program} --version = ${out}")
  endif()
endforeach()
if(failures GREATER 0)
  message(FATAL_ERROR "check_version.cmake: ${failures} program(s) print the wrong version")
endif()
