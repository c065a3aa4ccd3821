# What the build costs on CI's two cores (about 23 minutes from scratch before these two measures,
# most of it GCC generating code for the same LibTorch inline functions in every file).
#
# 1. The precompiled <torch/torch.h> costs every translation unit that takes it several seconds
# (GCC re-instantiates the templates the header's inline code uses, ~6 s a file here), whether
# or not the file uses LibTorch. dmgn_skip_pch_where_unused(<sources>) marks the sources that
# include no LibTorch header, directly or through the project's own headers, with
# SKIP_PRECOMPILE_HEADERS: about a third of the project (store, report, sweep, config, CLI
# plumbing), which then also cannot lean on the PCH for an include it forgot.
# tools/cuda_compile_check.py applies the same rule to its own precompiled header.
#
# 2. Unity batches (option DMGN_UNITY, on by default): dmgn_unity_batches(<target>) compiles the
# target's LibTorch sources DMGN_UNITY_BATCH at a time, one batch per folder run of files in name
# order (framework/models/a..f.cpp, ...; a system's folder and its tests/ are batches of their own),
# so that the LibTorch, fmt and GoogleTest code they
# share is generated once per batch instead of once per file: three test files alone took 91 s,
# together 58 s. Files in a batch share one translation unit, so a name a file keeps to itself
# (an anonymous namespace, a `using namespace`) must not collide with its neighbours'; the build
# says so at once when one does. `-DDMGN_UNITY=OFF` compiles every file on its own (and shows a
# file that leans on an include its neighbour made).

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

function(dmgn_unity_batches target)
  if(NOT DMGN_UNITY)
    return()
  endif()
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  set(dir "")
  set(count 0)
  set(batch 0)
  set(batched 0)
  foreach(src IN LISTS sources)
    get_filename_component(abs "${src}" ABSOLUTE BASE_DIR "${source_dir}")
    _dmgn_includes_torch("${abs}" uses)
    if(NOT uses)
      continue()  # compiled on its own, without the precompiled header (1.)
    endif()
    get_filename_component(d "${abs}" DIRECTORY)
    if(NOT d STREQUAL dir OR count EQUAL DMGN_UNITY_BATCH)
      if(NOT d STREQUAL dir)
        set(batch 0)
      else()
        math(EXPR batch "${batch} + 1")
      endif()
      set(dir "${d}")
      set(count 0)
    endif()
    file(RELATIVE_PATH folder "${PROJECT_SOURCE_DIR}" "${d}")
    string(REPLACE "/" "_" folder "${folder}")  # framework_systems_mbn_tests: unique per folder
    set_source_files_properties("${src}" PROPERTIES UNITY_GROUP "${folder}_${batch}")
    math(EXPR count "${count} + 1")
    math(EXPR batched "${batched} + 1")
  endforeach()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
  message(STATUS "dmgn: ${target}: ${batched} LibTorch sources compiled in unity batches of up to ${DMGN_UNITY_BATCH}")
endfunction()
