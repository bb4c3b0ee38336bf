// hvrun check: reports the KVM kind and cgroup layout this machine really
// has (the test reads the truth from /proc and /sys itself).
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "harness.hpp"
#include "tests/guests/test_guests.hpp"

namespace hvrun::test {
namespace {

bool exists(const std::string& p) { return std::ifstream(p).good() || ::access(p.c_str(), F_OK) == 0; }

bool cpu_flag(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;)
      if (w == flag) return true;
    return false;
  }
  return false;
}

std::string expected_kind() {
  // Absent, hidden under a plain file (tests/no-kvm.sh) or not answering: no KVM.
  if (!test_guests::kvm_usable()) return "none";
  bool vmx = cpu_flag("vmx"), svm = cpu_flag("svm");
  if (exists("/sys/module/kvm_pvm") && !vmx && !svm) return "pvm";
  if (vmx || exists("/sys/module/kvm_intel")) return "vt-x";
  if (svm || exists("/sys/module/kvm_amd")) return "amd-v";
  return "unknown";
}

// From /proc/self/mounts: cgroup (v1) mounts and a cgroup2 mount.
std::string expected_cgroup_layout() {
  std::ifstream in("/proc/self/mounts");
  bool v1 = false, v2 = false;
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string src, dst, type;
    f >> src >> dst >> type;
    v1 = v1 || type == "cgroup";
    v2 = v2 || type == "cgroup2";
  }
  return v1 && v2 ? "hybrid" : v1 ? "v1" : v2 ? "v2" : "none";
}

TEST(Check, JsonReportsTheKvmKindAndCgroupLayoutThisMachineHas) {
  auto r = run({hvrun_bin(), "check", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);  // throws (fails the test) if not JSON
  EXPECT_EQ(j["kvm"]["kind"], expected_kind());
  EXPECT_EQ(j["kvm"]["present"], exists("/dev/kvm"));
  EXPECT_EQ(j["kvm"]["usable"], test_guests::kvm_usable());
  EXPECT_EQ(j["cgroups"]["layout"], expected_cgroup_layout());
  EXPECT_EQ(j["overlayfs"].is_boolean(), true);
  // VM mode is only ready where a stock Linux guest can boot.
  if (j["kvm"]["kind"] == "pvm" || j["kvm"]["kind"] == "none") {
    EXPECT_EQ(j["vm_mode_ready"], false);
  }
}

TEST(Check, ExplainsPvmPlainlyWithTheWayOut) {
  if (expected_kind() != "pvm") GTEST_SKIP() << "this machine's /dev/kvm is not PVM";
  auto r = run({hvrun_bin(), "check"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("kind pvm"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cannot boot in useful time"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("scripts/vmhost"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("VT-x/AMD-V"), std::string::npos) << r.out;
}

TEST(Check, ExplainsNoKvmPlainlyWithTheWayOut) {
  if (expected_kind() != "none") GTEST_SKIP() << "this machine has a /dev/kvm (kind " << expected_kind() << ")";
  auto r = run({hvrun_bin(), "check"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("kind none"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--vm cannot run here"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("scripts/vmhost"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("VT-x/AMD-V"), std::string::npos) << r.out;
}

TEST(Check, HumanReportNamesTheCgroupLayout) {
  auto r = run({hvrun_bin(), "check"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("cgroups:        " + expected_cgroup_layout()), std::string::npos) << r.out;
}

TEST(Check, GuestKernelReportFollowsHvrunKernelCache) {
  TempDir cache;
  auto r = run({"env", "HVRUN_KERNEL_CACHE=" + cache.path(), hvrun_bin(), "check", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["guest_kernel"]["built"], false);
  ASSERT_EQ(run({"sh", "-c", "mkdir -p " + cache.path() + "/guest && echo 6.1.999-x > " + cache.path() +
                                 "/guest/release && : > " + cache.path() + "/guest/vmlinux"})
                .code,
            0);
  r = run({"env", "HVRUN_KERNEL_CACHE=" + cache.path(), hvrun_bin(), "check", "--json"});
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["guest_kernel"]["built"], true);
  EXPECT_EQ(j["guest_kernel"]["release"], "6.1.999-x");
}

TEST(Check, GuestInitReportedIsTheOneVmModeUsesTheBuildsBesideThisHvrun) {
  // The build's guest-init sits beside this hvrun (../guest-init/); VM mode
  // uses it before an installed one, and check must name that same file.
  std::string bin = hvrun_bin();
  std::string built = bin.substr(0, bin.rfind('/')) + "/../guest-init/hvrun-guest-init";
  if (::access(built.c_str(), X_OK) != 0) GTEST_SKIP() << "no guest-init built beside " << bin;
  auto r = run({"env", "-u", "HVRUN_GUEST_INIT", bin, "check", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["guest_init"]["present"], true);
  EXPECT_EQ(j["guest_init"]["path"], built) << r.out;
  r = run({"env", "HVRUN_GUEST_INIT=/nonexistent/guest-init", bin, "check", "--json"});
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["guest_init"]["present"], false) << r.out;
}

}  // namespace
}  // namespace hvrun::test
