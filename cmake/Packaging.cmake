# Packaging.cmake — Debian packages an operator installs, made by CPack.
#
#   cmake -S . -B build-package -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
#   cmake --build build-package
#   cpack --config build-package/CPackConfig.cmake -B OUT_DIR     # scripts/package does all this
#
# Two packages, one per install component:
#
#   canopyd        component "canopyd"   /usr/bin/canopyd, /usr/bin/canopy, their man pages
#                                        (help2man, from --help), the systemd unit
#                                        /lib/systemd/system/canopyd.service, the conffiles
#                                        /etc/canopy/canopyd.conf (its --config),
#                                        /etc/canopy/canopyd.env (PG*, CANOPY_*) and
#                                        /etc/canopy/mapping.conf
#   libcanopy-dev  component "dev"       include/canopy/, the static libraries, the CMake
#                                        package (lib/cmake/canopy), lib/pkgconfig/canopy.pc,
#                                        share/canopy/canopy.fbs
#
# Each also gets /usr/share/doc/<package>/{copyright,changelog.Debian.gz}.
#
# Included from the top-level CMakeLists.txt before the parts are added: an
# install() rule without COMPONENT belongs to "dev". The rules below that need
# the targets run deferred, at the end of the top-level directory.
#
# The systemd unit, the /etc files and the Debian doc files are EXCLUDE_FROM_ALL:
# `cmake --install build [--prefix P]` (a from-source install, tests/consumer's
# staging) never writes to /etc or /lib; CPack installs them per component,
# and so does `cmake --install build --component canopyd` on purpose.
#
# Package metadata: CANOPY_PACKAGE_MAINTAINER ("Name <email>"), the version is
# the project's (${PROJECT_VERSION}-${CANOPY_PACKAGE_RELEASE}); canopyd's
# Depends come from dpkg-shlibdeps (needs dpkg-dev and file). Man pages need
# help2man; without it they are left out (with a message).
include_guard(GLOBAL)
include(GNUInstallDirs)

if(NOT CANOPY_INSTALL)
  return()
endif()

set(CMAKE_INSTALL_DEFAULT_COMPONENT_NAME dev)

set(CANOPY_PACKAGE_MAINTAINER "canopy maintainers <canopy@example.org>" CACHE STRING
    "Maintainer field of the Debian packages (Name <email>)")
set(CANOPY_PACKAGE_RELEASE "1" CACHE STRING "Debian revision of the packages (VERSION-RELEASE)")
set(CANOPY_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH
    "Where the canopyd package puts canopyd.service (absolute)")
set(CANOPY_SYSCONF_DIR "/etc/canopy" CACHE PATH
    "Where the canopyd package puts canopyd.conf, canopyd.env and mapping.conf (absolute)")

macro(_canopy_packaging)
  set(_pkg_src ${PROJECT_SOURCE_DIR}/apps/packaging)
  set(_pkg_out ${PROJECT_BINARY_DIR}/packaging)
  set(_pkg_docdir ${CMAKE_INSTALL_DATAROOTDIR}/doc)
  file(MAKE_DIRECTORY ${_pkg_out})
  find_program(CANOPY_GZIP gzip)
  find_program(CANOPY_HELP2MAN help2man)

  # ---- libcanopy-dev: canopy.pc and the schema (headers, libraries and the
  # CMake package come from cmake/CanopyInstall.cmake) ----
  if(TARGET canopy_engine)
    # prefix relative to the .pc file, so a staged or moved tree works too.
    if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
      set(CANOPY_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    else()
      file(RELATIVE_PATH _pkg_up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
      string(REGEX REPLACE "/$" "" _pkg_up "${_pkg_up}")
      set(CANOPY_PC_PREFIX "\${pcfiledir}/${_pkg_up}")
    endif()
    configure_file(${_pkg_src}/canopy.pc.in ${_pkg_out}/canopy.pc @ONLY)
    install(FILES ${_pkg_out}/canopy.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
  endif()
  install(FILES ${PROJECT_SOURCE_DIR}/schemas/canopy.fbs
          DESTINATION ${CMAKE_INSTALL_DATADIR}/canopy COMPONENT dev)

  # ---- canopyd: man pages, unit, configuration ----
  set(_pkg_components dev)
  if(TARGET canopyd AND TARGET canopy_cli)
    list(APPEND _pkg_components canopyd)
    # help2man runs the programs: not in sanitizer or cross builds.
    if(CANOPY_HELP2MAN AND CANOPY_GZIP AND NOT CANOPY_SANITIZE AND NOT CMAKE_CROSSCOMPILING)
      set(_pkg_man_pages)
      foreach(_pkg_prog IN ITEMS "canopyd|canopyd|in-memory hierarchy index server fed by PostgreSQL logical replication"
                                 "canopy_cli|canopy|command-line client for canopyd")
        string(REPLACE "|" ";" _pkg_prog "${_pkg_prog}")
        list(GET _pkg_prog 0 _pkg_target)
        list(GET _pkg_prog 1 _pkg_name)
        list(GET _pkg_prog 2 _pkg_what)
        set(_pkg_man ${_pkg_out}/man/${_pkg_name}.1)
        add_custom_command(
          OUTPUT ${_pkg_man}.gz
          COMMAND ${CMAKE_COMMAND} -E make_directory ${_pkg_out}/man
          COMMAND ${CANOPY_HELP2MAN} --no-info --section=1 --version-string=${PROJECT_VERSION}
                  "--name=${_pkg_what}" --include=${_pkg_src}/man/${_pkg_name}.h2m
                  --output=${_pkg_man} $<TARGET_FILE:${_pkg_target}>
          COMMAND ${CANOPY_GZIP} -9nf ${_pkg_man}
          DEPENDS ${_pkg_target} ${_pkg_src}/man/${_pkg_name}.h2m
          COMMENT "help2man: ${_pkg_name}.1"
          VERBATIM)
        list(APPEND _pkg_man_pages ${_pkg_man}.gz)
      endforeach()
      add_custom_target(canopy_man_pages ALL DEPENDS ${_pkg_man_pages})
      install(FILES ${_pkg_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT canopyd)
    elseif(NOT CANOPY_HELP2MAN)
      message(STATUS "canopy: help2man not found; the canopyd package will have no man pages")
    endif()

    install(FILES ${_pkg_src}/canopyd.service DESTINATION ${CANOPY_SYSTEMD_UNIT_DIR}
            COMPONENT canopyd EXCLUDE_FROM_ALL)
    install(FILES ${_pkg_src}/canopyd.conf ${_pkg_src}/canopyd.env ${_pkg_src}/mapping.conf
            DESTINATION ${CANOPY_SYSCONF_DIR} COMPONENT canopyd EXCLUDE_FROM_ALL)
    set(_pkg_control ${_pkg_out}/deb-canopyd)
    file(MAKE_DIRECTORY ${_pkg_control})
    file(WRITE ${_pkg_control}/conffiles
         "${CANOPY_SYSCONF_DIR}/canopyd.conf\n${CANOPY_SYSCONF_DIR}/canopyd.env\n"
         "${CANOPY_SYSCONF_DIR}/mapping.conf\n")
    foreach(_pkg_script postinst prerm postrm)
      configure_file(${_pkg_src}/deb/canopyd.${_pkg_script} ${_pkg_control}/${_pkg_script} COPYONLY)
    endforeach()
  endif()

  # ---- /usr/share/doc/<package>: copyright, changelog.Debian.gz ----
  string(TIMESTAMP _pkg_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
  foreach(_pkg_component IN LISTS _pkg_components)
    if(_pkg_component STREQUAL "dev")
      set(_pkg_name libcanopy-dev)
    else()
      set(_pkg_name ${_pkg_component})
    endif()
    string(TOUPPER ${_pkg_component} _pkg_upper)
    set(CPACK_DEBIAN_${_pkg_upper}_PACKAGE_NAME ${_pkg_name})
    set(_pkg_changelog ${_pkg_out}/doc-${_pkg_name}/changelog.Debian)
    file(WRITE ${_pkg_changelog}
         "${_pkg_name} (${PROJECT_VERSION}-${CANOPY_PACKAGE_RELEASE}) unstable; urgency=medium\n\n"
         "  * Built from the canopy source tree with CPack (scripts/package).\n\n"
         " -- ${CANOPY_PACKAGE_MAINTAINER}  ${_pkg_date}\n")
    if(CANOPY_GZIP)
      add_custom_command(
        OUTPUT ${_pkg_changelog}.gz
        COMMAND ${CANOPY_GZIP} -9nc ${_pkg_changelog} > ${_pkg_changelog}.gz
        DEPENDS ${_pkg_changelog}
        COMMENT "gzip: changelog.Debian of ${_pkg_name}")
      add_custom_target(canopy_changelog_${_pkg_component} ALL DEPENDS ${_pkg_changelog}.gz)
      install(FILES ${_pkg_changelog}.gz DESTINATION ${_pkg_docdir}/${_pkg_name}
              COMPONENT ${_pkg_component} EXCLUDE_FROM_ALL)
    endif()
    install(FILES ${_pkg_src}/deb/copyright DESTINATION ${_pkg_docdir}/${_pkg_name}
            COMPONENT ${_pkg_component} EXCLUDE_FROM_ALL)
  endforeach()

  # ---- CPack ----
  set(CPACK_PACKAGE_NAME canopy)
  set(CPACK_PACKAGE_VENDOR "The canopy authors")
  set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
  set(CPACK_PACKAGE_CONTACT "${CANOPY_PACKAGE_MAINTAINER}")
  # No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPack would put it above each package's
  # own synopsis (the first line of CPACK_DEBIAN_<COMPONENT>_DESCRIPTION).
  if(EXISTS ${PROJECT_SOURCE_DIR}/LICENSE)
    set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
  endif()
  set(CPACK_GENERATOR DEB)
  set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
  set(CPACK_STRIP_FILES ON)
  set(CPACK_STRIP_PROGRAM "${CMAKE_STRIP}")
  set(CPACK_PRE_BUILD_SCRIPTS ${PROJECT_SOURCE_DIR}/cmake/CanopyPackageStrip.cmake)
  set(CPACK_COMPONENTS_ALL ${_pkg_components})
  set(CPACK_DEB_COMPONENT_INSTALL ON)
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_RELEASE ${CANOPY_PACKAGE_RELEASE})
  set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CANOPY_PACKAGE_MAINTAINER}")
  set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
  set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

  set(CPACK_DEBIAN_CANOPYD_PACKAGE_SECTION database)
  set(CPACK_DEBIAN_CANOPYD_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_CANOPYD_PACKAGE_CONTROL_EXTRA
      ${_pkg_out}/deb-canopyd/conffiles ${_pkg_out}/deb-canopyd/postinst
      ${_pkg_out}/deb-canopyd/prerm ${_pkg_out}/deb-canopyd/postrm)
  set(CPACK_DEBIAN_CANOPYD_DESCRIPTION
      "in-memory hierarchy index server fed by PostgreSQL logical replication
canopyd keeps an application's hierarchy (GitLab's namespaces, projects and
runner links, or another adjacency-list tree) in memory, streams every
committed change out of PostgreSQL with logical replication, and answers
ancestor and descendant queries over a FlatBuffers protocol, the Redis
protocol (RESP) and HTTP probes. Every answer names the LSN it reflects.
.
This package holds the server canopyd, the command-line client canopy and a
systemd unit (not enabled on install; configure /etc/canopy/canopyd.conf).")

  set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
  set(CPACK_DEBIAN_DEV_PACKAGE_RECOMMENDS "libpq-dev")
  set(CPACK_DEBIAN_DEV_DESCRIPTION
      "in-memory hierarchy index fed by PostgreSQL - development files
canopy keeps an application's hierarchy in memory and answers ancestor and
descendant queries in nanoseconds, always with the answer the SQL it
replaces would give.
.
This package holds the C++20 headers and static libraries of canopy::core,
canopy::engine, canopy::cdc (needs libpq-dev), canopy::net and canopy::client,
the CMake package for find_package(canopy), the pkg-config file canopy.pc and
the FlatBuffers schema of canopyd's protocol.")

  include(CPack)
endmacro()

cmake_language(DEFER CALL _canopy_packaging)
