// Shared by the tests that boot the tiny freestanding guests of this folder
// on the local /dev/kvm (tests/unit/vmm_guest_test.cpp,
// tests/integration/vmm_tool_test.cpp).
#pragma once
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <string>

namespace hvrun::test_guests {

// The built flat binary of guest `name` (tests/guests/NAME.S).
inline std::string path(const char* name) { return std::string(HVRUN_TEST_GUEST_DIR) + "/" + name + ".bin"; }

// /dev/kvm opens read-write and answers KVM_GET_API_VERSION (a file bound
// over it to hide it, as tests/no-kvm.sh does, does not).
inline bool kvm_usable() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  int v = ::ioctl(fd, KVM_GET_API_VERSION, 0);
  ::close(fd);
  return v == KVM_API_VERSION;
}

}  // namespace hvrun::test_guests

// Skips the calling test, saying why, where there is no usable /dev/kvm.
#define HVRUN_REQUIRE_KVM()                                                                            \
  do {                                                                                                 \
    if (!::hvrun::test_guests::kvm_usable()) GTEST_SKIP() << "no usable /dev/kvm (absent, hidden or not accessible)"; \
  } while (0)
