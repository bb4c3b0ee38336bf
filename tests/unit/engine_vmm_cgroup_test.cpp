// The VMM's own cgroup (engine/vmm_jail.hpp): made where a container's
// would be, capped at guest RAM + kVmmOwnMemory and threads + spare pids,
// joined by a child writing "0" to the join files (as the VMM's process does
// before exec), removed by destroy(). Needs root (cgroup fs writes).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "engine/vmm_jail.hpp"
#include "tests/unit/container_test_util.hpp"

namespace hvrun::engine {
namespace {

std::string first_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// The value of `file` in whichever of the cgroup's directories has it.
std::string limit_of(const container::Cgroup& cg, const std::string& v2_file, const std::string& v1_file) {
  for (const auto& dir : cg.paths()) {
    const std::string f = dir + "/" + (cg.version() == container::CgroupVersion::V2 ? v2_file : v1_file);
    if (std::filesystem::exists(f)) return first_line(f);
  }
  return "(no " + v2_file + " / " + v1_file + ")";
}

TEST(VmmJailCgroup, CapsTheVmmAtGuestRamPlusItsOwnMemoryIsJoinedBeforeExecAndGoesWithDestroy) {
  HVRUN_REQUIRE_ROOT();
  container::RunSpec spec;
  spec.id = "vmmcgroup" + std::to_string(::getpid());
  spec.cgroup_parent = "hvrun-unit-test";
  VmmCgroup v = make_vmm_cgroup(spec, 256ull << 20, 4);
  ASSERT_TRUE(v.cgroup) << v.why_not;
  EXPECT_EQ(v.memory_max, int64_t(512) << 20);
  EXPECT_EQ(limit_of(*v.cgroup, "memory.max", "memory.limit_in_bytes"), std::to_string(512 << 20));
  EXPECT_EQ(limit_of(*v.cgroup, "pids.max", "pids.max"), std::to_string(4 + kVmmSparePids));
  ASSERT_FALSE(v.join.empty());
  // A v1 device cgroup lets the VMM open /dev/kvm (10:232), which it does after joining.
  for (const auto& dir : v.cgroup->paths())
    if (std::filesystem::exists(dir + "/devices.list")) {
      std::ifstream l(dir + "/devices.list");
      std::string list((std::istreambuf_iterator<char>(l)), {});
      EXPECT_NE(list.find("c 10:232 rwm"), std::string::npos) << list;
      EXPECT_EQ(list.find("a *:* rwm"), std::string::npos) << "every other device stays denied:\n" << list;
    }

  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (const auto& f : v.join)
      if (::write(f.fd.get(), "0", 1) != 1) ::_exit(1);
    ::close(go[0]);
    (void)!::write(go[1], "j", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(go[1]);
  char c = 0;
  ASSERT_EQ(::read(go[0], &c, 1), 1) << "the child could not join";
  ::close(go[0]);
  std::ifstream cg("/proc/" + std::to_string(pid) + "/cgroup");
  std::string all((std::istreambuf_iterator<char>(cg)), {});
  EXPECT_NE(all.find("/hvrun-unit-test/" + spec.id), std::string::npos) << all;
  const std::string dir = v.cgroup->path();
  v.cgroup->destroy();  // kills what is left inside, as after a VMM's end
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
  container::Cgroup::for_container("", "hvrun-unit-test")->destroy();
}

}  // namespace
}  // namespace hvrun::engine
