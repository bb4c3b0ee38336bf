# Tiny freestanding test guests: GNU as (64-bit) + ld with guest.ld into flat
# binaries under ${HVRUN_GUEST_DIR}; the unit tests get that folder as
# HVRUN_TEST_GUEST_DIR. See VmConfig::raw_kernel for how they are booted.
set(HVRUN_GUEST_SRC ${CMAKE_CURRENT_LIST_DIR})
set(HVRUN_GUEST_DIR ${CMAKE_BINARY_DIR}/tests/guests)
set(HVRUN_GUESTS hello triple probe blk echo badring console rtc)
set(HVRUN_GUEST_BINS)
foreach(g ${HVRUN_GUESTS})
  add_custom_command(
    OUTPUT ${HVRUN_GUEST_DIR}/${g}.bin
    COMMAND as --64 -I ${HVRUN_GUEST_SRC} -o ${HVRUN_GUEST_DIR}/${g}.o ${HVRUN_GUEST_SRC}/${g}.S
    COMMAND ld -T ${HVRUN_GUEST_SRC}/guest.ld -o ${HVRUN_GUEST_DIR}/${g}.bin ${HVRUN_GUEST_DIR}/${g}.o
    DEPENDS ${HVRUN_GUEST_SRC}/${g}.S ${HVRUN_GUEST_SRC}/lib.inc ${HVRUN_GUEST_SRC}/guest.ld
    COMMENT "Assembling test guest ${g}")
  list(APPEND HVRUN_GUEST_BINS ${HVRUN_GUEST_DIR}/${g}.bin)
endforeach()
add_custom_target(hvrun_test_guests ALL DEPENDS ${HVRUN_GUEST_BINS})
if(TARGET hvrun_unit_tests)
  target_compile_definitions(hvrun_unit_tests PRIVATE HVRUN_TEST_GUEST_DIR="${HVRUN_GUEST_DIR}")
  add_dependencies(hvrun_unit_tests hvrun_test_guests)
endif()
if(TARGET hvrun_integration_tests)  # vmm_tool_test.cpp boots them through hvrun-vmm
  target_compile_definitions(hvrun_integration_tests PRIVATE HVRUN_TEST_GUEST_DIR="${HVRUN_GUEST_DIR}")
  add_dependencies(hvrun_integration_tests hvrun_test_guests)
endif()
