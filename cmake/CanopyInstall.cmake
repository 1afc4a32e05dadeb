# CanopyInstall.cmake — install + export rules so another CMake project can
#
#   find_package(canopy CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE canopy::engine)   # or canopy::client, canopy::core
#
# Included from the top-level CMakeLists.txt after every part was added, and
# only when CANOPY_INSTALL is ON (default: ON when canopy is the top-level
# project, OFF when it is a subproject — the Abseil convention).
#
# Layout under the prefix:
#   include/canopy/*.h                      public headers of each installed part
#   include/canopy/version.h                generated from project(VERSION)
#   lib/libcanopy_<part>.a                  the libraries
#   lib/cmake/canopy/canopyTargets.cmake    imported targets canopy::<part>
#   lib/cmake/canopy/canopyConfig.cmake     + canopyConfigVersion.cmake
# all in install component "dev" (the libcanopy-dev package, cmake/Packaging.cmake).
#
# Parts are installed only if their target exists in this build, so a part that
# is not written yet, or is switched off (CANOPY_BUILD_CDC=OFF), is skipped.
# A part's public headers are expected in include/canopy/ of the folder that
# defines its target (<part>/, or engine/ for core), and its target declares
# $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}> itself.
#
# Parts: core (status, LSN, rows, log records, the query vocabulary and
# version.h), engine (the index, on core), cdc, net (the server) and client
# (on core, without the index).
#
# Dependencies: core needs nothing, the engine only Threads (Boost is private
# to its .cc files and include paths). A part that links an imported target
# publicly (or, being a static library, at all) makes canopyConfig.cmake find
# that package again — per part: core's and engine's always, another part's
# only when it is asked for as a component (else quietly, marking the part not
# found if it is missing).
# The known packages are mapped in _canopy_dependency_for(); an unknown one
# stops configure so the gap is fixed here rather than found by a consumer.
# Internal canopy_* libraries a part links are installed along with it.

include_guard(GLOBAL)
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(CANOPY_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/canopy" CACHE STRING
    "Where canopyConfig.cmake is installed, relative to the prefix")

# Sets ${out} to the find_package() arguments that recreate imported target
# ${lib} in a consumer, "" when nothing is needed, or "?" when unknown.
function(_canopy_dependency_for lib out)
  set(args "?")
  if(lib STREQUAL "Threads::Threads")
    set(args "")                                  # always found (canopyConfig.cmake)
  elseif(lib MATCHES "^PostgreSQL::")
    set(args "PostgreSQL")
  elseif(lib MATCHES "^flatbuffers::")
    set(args "FlatBuffers CONFIG")
  elseif(lib MATCHES "^Boost::")
    set(args "Boost 1.81")
  elseif(lib MATCHES "^GTest::")
    set(args "GTest")
  elseif(lib MATCHES "^benchmark::")
    set(args "benchmark CONFIG")
  elseif(lib MATCHES "^-")
    set(args "")                                  # a linker flag
  elseif(NOT lib MATCHES "::" AND NOT TARGET "${lib}")
    set(args "")                                  # a plain library name or path (-lpq, m, ...)
  endif()
  set(${out} "${args}" PARENT_SCOPE)
endfunction()

# Walks the link closure of part ${part} (stopping at other parts). Appends the
# internal canopy_* library targets it meets to ${targets_var} and sets
# ${deps_var} to its list of find_package() argument strings.
function(_canopy_walk_part part all_parts targets_var deps_var)
  set(targets ${${targets_var}})
  set(deps)
  set(seen)
  set(worklist canopy_${part})
  while(worklist)
    list(POP_FRONT worklist target)
    if(target IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${target})
    if(NOT target IN_LIST targets)
      list(APPEND targets ${target})
    endif()
    get_target_property(type ${target} TYPE)
    get_target_property(libs ${target} INTERFACE_LINK_LIBRARIES)
    if(NOT type STREQUAL "INTERFACE_LIBRARY" AND NOT type STREQUAL "SHARED_LIBRARY")
      # A static library's private links are part of its export too.
      get_target_property(private_libs ${target} LINK_LIBRARIES)
      if(private_libs)
        list(APPEND libs ${private_libs})
      endif()
    endif()
    foreach(lib IN LISTS libs)
      if(NOT lib OR lib MATCHES "-NOTFOUND$" OR lib MATCHES "^\\$<BUILD_INTERFACE:")
        continue()
      endif()
      if(lib MATCHES "^\\$<LINK_ONLY:(.*)>$")
        set(lib "${CMAKE_MATCH_1}")
      endif()
      if(TARGET "${lib}")
        get_target_property(aliased "${lib}" ALIASED_TARGET)
        if(aliased)
          set(lib "${aliased}")
        endif()
        get_target_property(imported "${lib}" IMPORTED)
        if(NOT imported AND lib MATCHES "^canopy_(.*)$")
          if(NOT CMAKE_MATCH_1 IN_LIST all_parts)   # another part: its own deps
            list(APPEND worklist "${lib}")
          endif()
          continue()
        endif()
      endif()
      _canopy_dependency_for("${lib}" args)
      if(args STREQUAL "?")
        message(FATAL_ERROR "canopy install: ${target} links '${lib}', which canopyConfig.cmake does not "
                            "know how to find for a consumer; map it in cmake/CanopyInstall.cmake")
      endif()
      if(args AND NOT args IN_LIST deps)
        list(APPEND deps "${args}")
      endif()
    endforeach()
  endwhile()
  set(${targets_var} ${targets} PARENT_SCOPE)
  set(${deps_var} ${deps} PARENT_SCOPE)
endfunction()

function(canopy_install)
  set(parts)
  foreach(part core engine cdc net client)
    if(TARGET canopy_${part})
      get_target_property(type canopy_${part} TYPE)
      if(type MATCHES "LIBRARY$")
        list(APPEND parts ${part})
      endif()
    endif()
  endforeach()
  if(NOT parts)
    message(WARNING "canopy: no library target to install")
    return()
  endif()

  # What canopyConfig.cmake must look for, per part: a consumer of
  # canopy::engine alone never needs libpq even when canopy::cdc is installed.
  set(targets)
  set(config_lines)
  foreach(part IN LISTS parts)
    _canopy_walk_part(${part} "${parts}" targets deps)
    list(APPEND config_lines "set(canopy_${part}_FOUND TRUE)")
    foreach(args IN LISTS deps)
      list(APPEND config_lines "_canopy_part_dependency(${part} ${args})")
    endforeach()
  endforeach()
  string(REPLACE ";" "\n" CANOPY_CONFIG_PART_DEPENDENCIES "${config_lines}")
  set(CANOPY_CONFIG_PARTS "${parts}")

  install(TARGETS ${targets}
    EXPORT canopyTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT dev)
  # From the folder that defines each part's target (core and engine share engine/).
  set(header_dirs)
  foreach(part IN LISTS parts)
    get_target_property(part_dir canopy_${part} SOURCE_DIR)
    if(IS_DIRECTORY ${part_dir}/include/canopy AND NOT part_dir IN_LIST header_dirs)
      list(APPEND header_dirs ${part_dir})
      install(DIRECTORY ${part_dir}/include/canopy
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev
        FILES_MATCHING PATTERN "*.h")
    endif()
  endforeach()
  # The generated canopy/version.h (top-level CMakeLists.txt) goes with core.
  install(FILES ${CANOPY_GENERATED_INCLUDE_DIR}/canopy/version.h
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/canopy)
  install(EXPORT canopyTargets
    NAMESPACE canopy::
    FILE canopyTargets.cmake
    DESTINATION ${CANOPY_INSTALL_CMAKEDIR} COMPONENT dev)

  configure_package_config_file(
    ${PROJECT_SOURCE_DIR}/cmake/canopyConfig.cmake.in
    ${PROJECT_BINARY_DIR}/canopyConfig.cmake
    INSTALL_DESTINATION ${CANOPY_INSTALL_CMAKEDIR})
  write_basic_package_version_file(
    ${PROJECT_BINARY_DIR}/canopyConfigVersion.cmake
    VERSION ${PROJECT_VERSION}
    COMPATIBILITY SameMinorVersion)
  install(FILES
    ${PROJECT_BINARY_DIR}/canopyConfig.cmake
    ${PROJECT_BINARY_DIR}/canopyConfigVersion.cmake
    DESTINATION ${CANOPY_INSTALL_CMAKEDIR} COMPONENT dev)
  message(STATUS "canopy: install rules for ${parts} (targets: ${targets})")
endfunction()
