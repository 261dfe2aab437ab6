# Compiles each case of compile_fail.cpp alone (-fsyntax-only) and checks that CASE_ok compiles
# and every other case fails for its reason (a regex over the compiler's messages, GCC or Clang).
#   cmake -DCXX=<compiler> -DINCLUDE_DIR=<repo>/include -DSOURCE=<...>/compile_fail.cpp -P compile_fail.cmake
cmake_minimum_required(VERSION 3.16)
set(cases
  "ok|"
  "counter_observe|no member named[^A-Za-z]*Observe"
  "counter_set|no member named[^A-Za-z]*Set"
  "counter_decrement|no member named[^A-Za-z]*Decrement"
  "gauge_observe|no member named[^A-Za-z]*Observe"
  "histogram_increment|no member named[^A-Za-z]*Increment"
  "histogram_set|no member named[^A-Za-z]*Set"
  "histogram_add_without_buckets|needs bucket boundaries"
  "counter_add_with_buckets|only histograms take bucket boundaries"
  "temporary_counter|deleted"
  "temporary_metric|deleted"
  "temporary_histogram|deleted")
set(failures 0)
foreach(entry IN LISTS cases)
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 case)
  list(LENGTH parts n)
  set(reason "")
  if(n GREATER 1)
    list(GET parts 1 reason)
  endif()
  execute_process(COMMAND "${CXX}" -std=c++17 -fsyntax-only "-I${INCLUDE_DIR}" -DCASE_${case} "${SOURCE}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(case STREQUAL "ok")
    if(NOT rc EQUAL 0)
      message(SEND_ERROR "CASE_ok must compile:\n${out}")
      math(EXPR failures "${failures} + 1")
    else()
      message(STATUS "ok: compiles")
    endif()
  elseif(rc EQUAL 0)
    message(SEND_ERROR "CASE_${case} compiled; it must not")
    math(EXPR failures "${failures} + 1")
  elseif(NOT out MATCHES "${reason}")
    message(SEND_ERROR "CASE_${case} failed, but not because of /${reason}/:\n${out}")
    math(EXPR failures "${failures} + 1")
  else()
    message(STATUS "${case}: does not compile (${reason})")
  endif()
endforeach()
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} compile-fail case(s) wrong")
endif()
