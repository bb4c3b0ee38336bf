// Shared by the tests that boot the tiny freestanding guests of this folder
// on the local /dev/kvm (tests/unit/vmm_guest_test.cpp,
// tests/integration/vmm_tool_test.cpp).
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace hvrun::test_guests {

// The built flat binary of guest `name` (tests/guests/NAME.S).
inline std::string path(const char* name) { return std::string(HVRUN_TEST_GUEST_DIR) + "/" + name + ".bin"; }

}  // namespace hvrun::test_guests

// Skips the calling test, saying why, where there is no usable /dev/kvm.
#define HVRUN_REQUIRE_KVM()                                                                            \
  do {                                                                                                 \
    if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/kvm is absent or not accessible"; \
  } while (0)
