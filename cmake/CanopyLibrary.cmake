# CanopyLibrary.cmake — the shape every canopy part's library shares.
#
#   canopy_add_library(PART [STATIC] SOURCES...)
#
# Makes target canopy_<PART> with alias canopy::<PART> (the exported name):
# C++20; public headers in <this folder>/include (installed under include/,
# see CanopyInstall.cmake); internals in <this folder>/src; canopy's warnings.
# Dependencies are the caller's: they differ per part (net -> engine <- cdc).
include_guard(GLOBAL)
include(GNUInstallDirs)

function(canopy_add_library part)
  set(target canopy_${part})
  add_library(${target} ${ARGN})
  add_library(canopy::${part} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${part} OUTPUT_NAME ${target})
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(${target}
    PUBLIC
      $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE
      ${CMAKE_CURRENT_SOURCE_DIR}/src)
  canopy_set_warnings(${target})
endfunction()
