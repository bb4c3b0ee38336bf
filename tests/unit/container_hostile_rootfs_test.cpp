// Images that try to redirect the runtime's mounts onto the host with
// symlinks (CVE-2025-31133 class): the runtime must refuse or keep the
// mount inside the container root, and the host must stay untouched.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "container_test_util.hpp"
#include "util/error.hpp"

namespace hvrun::container::testing {
namespace {

// A small private rootfs that a test may vandalise: the shared busybox
// binary hard-linked (copied across filesystems) plus the few applets used.
std::string copy_rootfs(const std::string& tag) {
  std::string d = scratch_dir(tag);
  for (const char* sub : {"/bin", "/etc", "/proc", "/sys", "/dev", "/tmp"}) mkdir_p(d + sub);
  std::string bb = d + "/bin/busybox";
  if (::link((busybox_rootfs() + "/bin/busybox").c_str(), bb.c_str()) < 0) {
    std::string cmd = "cp " + busybox_rootfs() + "/bin/busybox " + bb;
    if (std::system(cmd.c_str()) != 0) throw Error("cp busybox failed");
  }
  for (const char* a : {"sh", "true", "ls", "echo", "tr"})
    if (::symlink("busybox", (d + "/bin/" + a).c_str()) < 0) throw_sys("symlink", a);
  return d;
}

bool host_has_mount_at(const std::string& path) {
  std::ifstream in("/proc/self/mounts");
  std::string dev, mp, rest;
  while (in >> dev >> mp && std::getline(in, rest))
    if (mp == path || mp.rfind(path + "/", 0) == 0) return true;
  return false;
}

bool dir_is_empty(const std::string& d) {
  std::string cmd = "[ -z \"$(ls -A " + d + ")\" ]";
  return std::system(cmd.c_str()) == 0;
}

void expect_symlink_refused(const std::string& in_image) {
  std::string root = copy_rootfs("hostile");
  std::string host = scratch_dir("host-target");
  std::string link = root + in_image;
  std::string rm = "rm -rf " + link;
  ASSERT_EQ(std::system(rm.c_str()), 0);
  ASSERT_EQ(::symlink(host.c_str(), link.c_str()), 0);
  auto s = base_spec({"/bin/true"});
  s.rootfs = root;
  try {
    run_to_end(s);
    ADD_FAILURE() << "started with " << in_image << " -> " << host;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("symbolic link"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(in_image), std::string::npos) << e.what();
  }
  EXPECT_TRUE(dir_is_empty(host)) << "the runtime wrote into the host directory " << host;
  EXPECT_FALSE(host_has_mount_at(host));
}

TEST(ContainerHostileRootfs, DevSymlinkToAHostDirIsRefused) {
  HVRUN_REQUIRE_ROOT();
  expect_symlink_refused("/dev");
}

TEST(ContainerHostileRootfs, ProcSymlinkToAHostDirIsRefused) {
  HVRUN_REQUIRE_ROOT();
  expect_symlink_refused("/proc");
}

TEST(ContainerHostileRootfs, SysSymlinkToAHostDirIsRefused) {
  HVRUN_REQUIRE_ROOT();
  expect_symlink_refused("/sys");
}

TEST(ContainerHostileRootfs, BindTargetThroughAnAbsoluteSymlinkStaysInsideTheRoot) {
  HVRUN_REQUIRE_ROOT();
  std::string root = copy_rootfs("hostile-bind");
  std::string host = scratch_dir("host-victim");
  std::string src = scratch_dir("bind-src");
  { std::ofstream(src + "/payload") << "x\n"; }
  ASSERT_EQ(::symlink(host.c_str(), (root + "/escape").c_str()), 0);
  auto s = base_spec({"/bin/sh", "-c", "ls /escape/sub"});
  s.rootfs = root;
  s.mounts = {{src, "/escape/sub", false}};
  auto r = run_to_end(s);
  EXPECT_EQ(r.out, "payload\n");
  EXPECT_TRUE(dir_is_empty(host)) << "bind target escaped to the host directory " << host;
  EXPECT_TRUE(is_dir(root + host + "/sub")) << "target should have been created inside the root";
}

TEST(ContainerHostileRootfs, CwdThroughASymlinkStaysInsideTheRoot) {
  HVRUN_REQUIRE_ROOT();
  std::string root = copy_rootfs("hostile-cwd");
  std::string host = scratch_dir("host-cwd");
  ASSERT_EQ(::symlink(host.c_str(), (root + "/w").c_str()), 0);
  auto s = base_spec({"/bin/sh", "-c", "echo x > here"});
  s.rootfs = root;
  s.cwd = "/w";
  auto r = run_to_end(s);
  EXPECT_EQ(r.status.exit_code(), 0) << r.out;
  EXPECT_TRUE(dir_is_empty(host));
  EXPECT_TRUE(path_exists(root + host + "/here"));
}

TEST(ContainerHostileRootfs, FifoAsEtcPasswdIsAnErrorNotAHang) {
  HVRUN_REQUIRE_ROOT();
  std::string root = copy_rootfs("hostile-fifo");
  ASSERT_EQ(::mkfifo((root + "/etc/passwd").c_str(), 0644), 0);
  auto s = base_spec({"/bin/true"});
  s.rootfs = root;
  s.user = "nobody";
  try {
    run_to_end(s);
    ADD_FAILURE() << "started";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/etc/passwd in the image is not a regular file"), std::string::npos) << e.what();
  }
}

TEST(ContainerHostileRootfs, InheritedHostFdsAreNotVisibleToTheWorkload) {
  HVRUN_REQUIRE_ROOT();
  int leak = ::open("/", O_RDONLY);  // deliberately not O_CLOEXEC
  ASSERT_GE(leak, 3);
  auto r = run_to_end(base_spec({"/bin/sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"}));
  ::close(leak);
  EXPECT_EQ(r.out, "0 1 2 3 ") << "only stdio and ls's own directory fd may be open";
}

}  // namespace
}  // namespace hvrun::container::testing
