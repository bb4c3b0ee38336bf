// The cgroup freezer (container/freezer.hpp) on v1 and v2: a process in the
// container's cgroup stops (its state in /proc says so) and runs again.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "container/cgroups.hpp"
#include "container/freezer.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::container {
namespace {

// A child that counts in a pipe-less busy loop: its CPU time grows while it runs.
pid_t spawn_spinner() {
  pid_t p = ::fork();
  if (p == 0) {
    volatile unsigned long i = 0;
    for (;;) i = i + 1;
  }
  return p;
}

// utime+stime of pid in clock ticks.
long cpu_ticks(pid_t pid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/stat");
  s = s.substr(s.rfind(')') + 2);
  std::istringstream in(s);
  std::string f;
  long ut = 0, st = 0;
  for (int i = 3; i <= 15 && in >> f; ++i) {
    if (i == 14) ut = std::stol(f);
    if (i == 15) st = std::stol(f);
  }
  return ut + st;
}

void freeze_and_thaw(const std::string& root) {
  const std::string id = random_hex(32);
  auto cg = Cgroup::for_container("hvrun-test", id, root);
  cg->create({});
  pid_t p = spawn_spinner();
  cg->add(p);
  EXPECT_EQ(freezer_state(id, "hvrun-test", root), "THAWED");
  {
    CgroupFreeze f(id, "hvrun-test", root);
    EXPECT_EQ(f.state_after_freeze(), "FROZEN");
    EXPECT_EQ(freezer_state(id, "hvrun-test", root), "FROZEN");
    long a = cpu_ticks(p);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(cpu_ticks(p), a) << "a frozen process ran";
  }
  EXPECT_EQ(freezer_state(id, "hvrun-test", root), "THAWED");
  long b = cpu_ticks(p);
  for (int i = 0; i < 100 && cpu_ticks(p) == b; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GT(cpu_ticks(p), b) << "the process did not run again";
  cg->destroy();
  ::waitpid(p, nullptr, 0);
}

TEST(ContainerFreezer, V1FreezesAndThawsTheContainersProcesses) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  if (detect_cgroup_version("/sys/fs/cgroup") != CgroupVersion::V1 || !is_dir("/sys/fs/cgroup/freezer"))
    GTEST_SKIP() << "no cgroup v1 freezer hierarchy on this host";
  freeze_and_thaw("/sys/fs/cgroup");
}

TEST(ContainerFreezer, V2FreezesAndThawsTheContainersProcesses) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  std::string root;
  for (const char* r : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
    if (root.empty() && path_exists(r) && detect_cgroup_version(r) == CgroupVersion::V2) root = r;
  if (root.empty()) GTEST_SKIP() << "no cgroup2 mount on this host";
  freeze_and_thaw(root);
}

TEST(ContainerFreezer, AContainerWithoutACgroupCannotBeFrozen) {
  EXPECT_EQ(freezer_state(random_hex(32), "hvrun-test"), "");
  EXPECT_THROW(CgroupFreeze(random_hex(32), "hvrun-test"), Error);
}

}  // namespace
}  // namespace hvrun::container
