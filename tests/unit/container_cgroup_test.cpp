// Cgroup v1/v2 behind one interface. The v2 implementation is exercised on
// the host's cgroup2 mount too (on hybrid hosts: /sys/fs/cgroup/unified).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "container/cgroups.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::container {
namespace {

std::string cgroup2_root() {
  for (const char* r : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
    if (path_exists(r) && detect_cgroup_version(r) == CgroupVersion::V2) return r;
  return "";
}

pid_t spawn_sleeper() {
  pid_t p = ::fork();
  if (p == 0) {
    ::pause();
    ::_exit(0);
  }
  return p;
}

TEST(ContainerCgroup, RejectsIdsAndParentsThatEscapeTheHierarchy) {
  EXPECT_THROW(Cgroup::for_container("hvrun", "../evil"), Error);
  EXPECT_THROW(Cgroup::for_container("hvrun", "a/b"), Error);
  EXPECT_THROW(Cgroup::for_container("../x", "abc"), Error);
  EXPECT_THROW(Cgroup::for_container("/abs", "abc"), Error);
  EXPECT_THROW(Cgroup::for_container("hvrun", ""), Error);
}

TEST(ContainerCgroup, V2LifecycleAddKillAndRemove) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  std::string root = cgroup2_root();
  if (root.empty()) GTEST_SKIP() << "no cgroup2 mount on this host";
  std::string id = random_hex(16);
  auto cg = Cgroup::for_container("hvrun-test", id, root);
  ASSERT_EQ(cg->version(), CgroupVersion::V2);
  cg->create({});
  ASSERT_TRUE(is_dir(root + "/hvrun-test/" + id));
  pid_t p = spawn_sleeper();
  cg->add(p);
  EXPECT_NE(read_file(cg->path() + "/cgroup.procs").find(std::to_string(p)), std::string::npos);
  EXPECT_FALSE(cg->oom_killed());
  cg->destroy();
  int st = 0;
  ASSERT_EQ(::waitpid(p, &st, 0), p);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  EXPECT_FALSE(path_exists(root + "/hvrun-test/" + id));
  EXPECT_NO_THROW(cg->destroy());
}

TEST(ContainerCgroup, V2LimitWithoutTheControllerIsAClearError) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  std::string root = cgroup2_root();
  if (root.empty()) GTEST_SKIP() << "no cgroup2 mount on this host";
  if (read_file(root + "/cgroup.controllers").find("pids") != std::string::npos)
    GTEST_SKIP() << "pids is available on " << root << ": nothing to refuse";
  auto cg = Cgroup::for_container("hvrun-test", random_hex(16), root);
  try {
    cg->create({0, 0, 10});
    ADD_FAILURE() << "created a pids limit without the controller";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pids controller is not available"), std::string::npos) << e.what();
  }
  cg->destroy();
}

// The v2 limit files on a fake hierarchy (plain files in a temp dir): the
// host here has no v2 controllers to try them on.
TEST(ContainerCgroup, V2LimitsAreWrittenInTheirFilesAndControllersEnabledOnTheWay) {
  std::string root = "/tmp/hvrun-test-fake-cgroup2-" + std::to_string(::getpid());
  std::string dir = root + "/hvrun/abc";
  mkdir_p(dir);
  auto put = [](const std::string& f, const std::string& v) { std::ofstream(f) << v; };
  for (auto& d : {root, root + "/hvrun", dir}) {
    put(d + "/cgroup.controllers", "cpuset cpu io memory pids\n");
    put(d + "/cgroup.subtree_control", "");
  }
  for (const char* f : {"memory.max", "memory.swap.max", "cpu.max", "pids.max"}) put(dir + "/" + f, "");
  auto cg = make_cgroup_v2(root, "hvrun/abc");
  cg->create({32 << 20, 1.5, 33});
  EXPECT_EQ(read_file(dir + "/memory.max"), std::to_string(32 << 20));
  EXPECT_EQ(read_file(dir + "/memory.swap.max"), "0");
  EXPECT_EQ(read_file(dir + "/cpu.max"), "150000 100000");
  EXPECT_EQ(read_file(dir + "/pids.max"), "33");
  // Each controller written on its own ("+memory", "+cpu", "+pids" over the same plain file).
  EXPECT_EQ(read_file(root + "/hvrun/cgroup.subtree_control").substr(0, 1), "+");
  remove_all(root);
}

TEST(ContainerCgroup, V1HostLimitsAreWrittenAndRemoved) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  if (detect_cgroup_version() != CgroupVersion::V1) GTEST_SKIP() << "host is pure cgroup v2";
  auto cg = Cgroup::for_container("hvrun-test", random_hex(16));
  cg->create({64 << 20, 1.5, 33});
  std::string mem = cg->path();
  EXPECT_EQ(read_file(mem + "/memory.limit_in_bytes"), std::to_string(64 << 20) + "\n");
  if (path_exists(mem + "/memory.memsw.limit_in_bytes")) {
    EXPECT_EQ(read_file(mem + "/memory.memsw.limit_in_bytes"), std::to_string(64 << 20) + "\n");
  }
  bool saw_cpu = false, saw_pids = false;
  for (auto& p : cg->paths()) {
    if (path_exists(p + "/cpu.cfs_quota_us")) {
      EXPECT_EQ(read_file(p + "/cpu.cfs_quota_us"), "150000\n");
      saw_cpu = true;
    }
    if (path_exists(p + "/pids.max")) {
      EXPECT_EQ(read_file(p + "/pids.max"), "33\n");
      saw_pids = true;
    }
  }
  EXPECT_TRUE(saw_cpu && saw_pids);
  auto paths = cg->paths();
  cg->destroy();
  for (auto& p : paths) EXPECT_FALSE(path_exists(p)) << p;
}


TEST(ContainerCgroup, V1ChildJoiningByItselfLandsInEveryHierarchy) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  if (detect_cgroup_version() != CgroupVersion::V1) GTEST_SKIP() << "host is pure cgroup v2";
  auto cg = Cgroup::for_container("hvrun-test", random_hex(16));
  cg->create({});
  auto files = cg->open_join_files();
  ASSERT_EQ(files.size(), cg->paths().size());
  Pipe ready = Pipe::make();
  pid_t pid = ::fork();
  if (pid == 0) {
    try {
      Cgroup::join_self(files);
    } catch (...) {
      ::_exit(1);
    }
    char b = 'j';
    (void)!::write(ready.write.get(), &b, 1);
    ::pause();
    ::_exit(0);
  }
  ready.write.reset();
  char b = 0;
  ASSERT_EQ(::read(ready.read.get(), &b, 1), 1) << "the child could not join";
  for (auto& p : cg->paths()) {
    auto procs = cgroup_detail::read_procs(p);
    EXPECT_NE(std::find(procs.begin(), procs.end(), pid), procs.end()) << p;
  }
  EXPECT_TRUE(cgroup_detail::read_procs(cg->paths().front()).size() == 1);
  cg->destroy();  // kills the child
  int st = 0;
  ::waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  for (auto& p : cg->paths()) EXPECT_FALSE(path_exists(p)) << p;
}


TEST(ContainerCgroup, V1SymlinkedHierarchiesAreFollowedOnceAndUsedOnce) {
  // A fake v1 root: cpu and cpuacct are symlinks to one "cpu,cpuacct" hierarchy.
  std::string root = "/tmp/hvrun-test-fake-cgroup-" + random_hex(6);
  mkdir_p(root + "/cpu,cpuacct");
  mkdir_p(root + "/pids");
  ASSERT_EQ(::symlink("cpu,cpuacct", (root + "/cpu").c_str()), 0);
  ASSERT_EQ(::symlink("cpu,cpuacct", (root + "/cpuacct").c_str()), 0);
  ASSERT_EQ(::symlink("/nonexistent-hvrun", (root + "/memory").c_str()), 0);  // dangling: skipped
  auto cg = Cgroup::for_container("p", "c1", root);
  std::vector<std::string> want = {root + "/cpu,cpuacct/p/c1", root + "/pids/p/c1"};
  EXPECT_EQ(cg->paths(), want);
  remove_all(root);
}

}  // namespace
}  // namespace hvrun::container
