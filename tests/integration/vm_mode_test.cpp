// VM mode on the host itself (not in the test host): what hvrun --vm does
// before any guest boots.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

// The KVM kind as hvrun itself sees it: "none", "pvm", "vt-x", "amd-v" or
// "unknown" (the tests below hold on every kind of host).
std::string kvm_kind() {
  Result r = run({hvrun_bin(), "check", "--json"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (!j.is_object() || !j.contains("kvm")) return "?";
  return j["kvm"]["kind"].get<std::string>();
}

class VmMode : public StoreFixture {};

TEST_F(VmMode, OnAHostThatCannotBootLinuxRunRefusesAtOnceWithTheWayOut) {
  HVRUN_REQUIRE_ROOT();
  const std::string kind = kvm_kind();
  ASSERT_NE(kind, "?");
  if (kind == "vt-x" || kind == "amd-v")
    GTEST_SKIP() << "this host has hardware KVM (" << kind << "): --vm boots, nothing to refuse "
                 << "(OnAHardwareKvmHostRunBootsTheGuest covers it)";
  Result r = hv({"--vm", "busybox", "true"}, "", 20);
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("KVM kind: " + kind), std::string::npos) << r.err;
  if (kind == "pvm") {
    EXPECT_NE(r.err.find("PVM"), std::string::npos) << r.err;
  }
  if (kind == "none") {
    EXPECT_NE(r.err.find("/dev/kvm"), std::string::npos) << r.err;
  }
  // The way out that works on every such host: the nested test host.
  EXPECT_NE(r.err.find("scripts/vmhost"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  // Nothing was created.
  Result ps = hv({"ps", "-aq"});
  EXPECT_EQ(trim(ps.out), "");
}

TEST_F(VmMode, OnAHardwareKvmHostRunBootsTheGuest) {
  HVRUN_REQUIRE_ROOT();
  const std::string kind = kvm_kind();
  if (kind != "vt-x" && kind != "amd-v")
    GTEST_SKIP() << "no hardware KVM on this host (kind " << kind << "); VM mode is proven in the nested test "
                 << "host (VmE2E)";
  Result r = hv({"--vm", "--rm", "busybox", "sh", "-c", "echo booted; uname -r"}, "", 120);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("booted\n", 0), 0u) << r.out << r.err;
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
