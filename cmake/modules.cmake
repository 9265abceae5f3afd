# The floors of src/ are kept by the compiler (docs/architecture.md).
#
# podnet_module(<target> <module>): the library <target> is built from src/<module>/. Its headers are
# reachable as "<module>/x.h" from the library itself and from whatever links it (PUBLIC, so also
# transitively), and from nothing else: every module has an include root of its own, a directory in
# the build tree holding a single symlink <module> -> src/<module>. No target gets src/ as a whole, so
# a module that includes a header of a module it does not link fails to compile.
# scripts/check-layering.py then holds the link graph itself to the allowed edges.
function(podnet_module target module)
  set(root ${PROJECT_BINARY_DIR}/module-include/${module})
  if(NOT EXISTS ${root}/${module})
    file(MAKE_DIRECTORY ${root})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${module} ${root}/${module} SYMBOLIC)
  endif()
  target_include_directories(${target} PUBLIC ${root})
endfunction()
