// VM mode on the host itself (not in the test host): what hvrun --vm does
// before any guest boots.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

bool host_is_pvm() {
  struct stat st;
  if (::stat("/sys/module/kvm_pvm", &st) != 0) return false;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0 && (line.find(" vmx") != std::string::npos || line.find(" svm") != std::string::npos))
      return false;
  return true;
}

class VmMode : public StoreFixture {};

TEST_F(VmMode, OnAPvmHostRunRefusesAtOnceWithTheWayOut) {
  HVRUN_REQUIRE_ROOT();
  if (!host_is_pvm()) GTEST_SKIP() << "this host's KVM is not PVM (kvm_pvm without vmx/svm)";
  Result r = hv({"--vm", "busybox", "true"}, "", 20);
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("PVM"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("scripts/vmhost"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  // Nothing was created.
  Result ps = hv({"ps", "-aq"});
  EXPECT_EQ(trim(ps.out), "");
}

TEST_F(VmMode, AVolumeThatIsAFifoSocketOrDeviceIsRefusedInVmModeWithAClearError) {
  HVRUN_REQUIRE_ROOT();
  // HVRUN_FORCE_VM skips the KVM-kind check, so the refusal tested here is
  // the backend's own, before any VMM starts: through 9p only directories
  // and regular files can work.
  TempDir host;
  ASSERT_EQ(::mkfifo((host.path() + "/fifo").c_str(), 0600), 0);
  for (const std::string& src : {std::string("/dev/null"), host.path() + "/fifo"}) {
    Result r = run({"env", "HVRUN_FORCE_VM=1", hvrun_bin(), "--root", root(), "--vm", "--rm", "-v", src + ":/x",
                    "busybox", "true"},
                   "", 60);
    EXPECT_EQ(r.code, 125) << src;
    EXPECT_NE(r.err.find("with --vm a volume must be a directory or a regular file"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(src), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }
  EXPECT_EQ(trim(hv({"ps", "-aq"}).out), "") << "a refused run leaves no container behind";
}

}  // namespace
}  // namespace hvrun::test
