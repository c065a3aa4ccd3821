# The precompiled <torch/torch.h> costs every translation unit that takes it several seconds
# (GCC re-instantiates the templates the header's inline code uses, ~6 s a file here), whether
# or not the file uses LibTorch. dmgn_skip_pch_where_unused(<sources>) marks the sources that
# include no LibTorch header, directly or through the project's own headers, with
# SKIP_PRECOMPILE_HEADERS: about a third of the project (store, report, sweep, config, CLI
# plumbing), which then also cannot lean on the PCH for an include it forgot.
# tools/cuda_compile_check.py applies the same rule to its own precompiled header.

# Whether `file` includes a LibTorch header (<torch/...>, <ATen/...>, <c10/...>), itself or
# through a quoted or angled include that resolves beside it, under framework/ or under tests/.
function(_dmgn_includes_torch file result)
  get_property(known GLOBAL PROPERTY "DMGN_TORCH:${file}" SET)
  if(known)
    get_property(value GLOBAL PROPERTY "DMGN_TORCH:${file}")
    set(${result} ${value} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY "DMGN_TORCH:${file}" OFF)  # while scanning: include cycles end here
  set(value OFF)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  get_filename_component(dir "${file}" DIRECTORY)
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*" "\\1" inc "${line}")
    if(inc MATCHES "^(torch|ATen|c10)/")
      set(value ON)
      break()
    endif()
    set(found "")
    foreach(base "${dir}" "${PROJECT_SOURCE_DIR}/framework" "${PROJECT_SOURCE_DIR}/tests")
      if(NOT found AND EXISTS "${base}/${inc}" AND NOT IS_DIRECTORY "${base}/${inc}")
        set(found "${base}/${inc}")
      endif()
    endforeach()
    if(found)
      get_filename_component(found "${found}" ABSOLUTE)
      _dmgn_includes_torch("${found}" sub)
      if(sub)
        set(value ON)
        break()
      endif()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY "DMGN_TORCH:${file}" ${value})
  set(${result} ${value} PARENT_SCOPE)
endfunction()

function(dmgn_skip_pch_where_unused)
  set(skipped 0)
  foreach(src IN LISTS ARGN)
    get_filename_component(abs "${src}" ABSOLUTE)
    _dmgn_includes_torch("${abs}" uses)
    if(NOT uses)
      set_source_files_properties("${src}" PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
      math(EXPR skipped "${skipped} + 1")
    endif()
  endforeach()
  list(LENGTH ARGN total)
  message(STATUS "dmgn: ${skipped} of ${total} sources in ${CMAKE_CURRENT_SOURCE_DIR} include no LibTorch header "
                 "(compiled without the precompiled <torch/torch.h>)")
endfunction()
