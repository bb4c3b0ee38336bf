// guest-init's freeze of the writable disk's file system (guest-init/freeze):
// the answers it gives the host, and, where a loop device can be had, a real
// ext4 laid out as the VM's writable disk: frozen, its dirty data is on the
// image, writers wait until the thaw.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "guest-init/freeze.hpp"
#include "tests/unit/image_test_util.hpp"
#include "util/fs.hpp"

namespace hvrun::guestinit {
namespace {

using image::testing::sh;
using image::testing::Tmp;

TEST(GuestInitFreeze, AMissingMountPointIsAnAnswerWithTheReasonNotAThrow) {
  FsFreeze f("/nonexistent-hvrun-freeze-test");
  auto ev = f.apply(contract::FreezeMsg{true});
  EXPECT_FALSE(ev.frozen);
  EXPECT_EQ(ev.error, "open /nonexistent-hvrun-freeze-test: No such file or directory");
  EXPECT_FALSE(f.frozen());
}

TEST(GuestInitFreeze, ThawingAFileSystemThatIsNotFrozenIsNotAnError) {
  if (::geteuid() != 0) GTEST_SKIP() << "FITHAW needs CAP_SYS_ADMIN";
  Tmp tmp;
  FsFreeze f(tmp.path);
  auto ev = f.apply(contract::FreezeMsg{false});
  EXPECT_EQ(ev.error, "");
  EXPECT_FALSE(ev.frozen);
}

TEST(GuestInitFreeze, AFrozenExt4HasItsDirtyDataOnTheDiskAndWritersWaitForTheThaw) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount)";
  Tmp tmp;
  const std::string disk = tmp.path + "/rw.ext4", mnt = tmp.path + "/mnt";
  mkdir_p(mnt);
  // As engine/vm_backend.cpp makes the writable disk: no journal.
  ASSERT_EQ(sh("truncate -s 64M " + disk + " && mkfs.ext4 -q -F -O ^has_journal " + disk), 0);
  if (sh("mount -o loop " + disk + " " + mnt + " 2>/dev/null") != 0) GTEST_SKIP() << "no loop device here";
  struct Unmount {
    std::string mnt;
    ~Unmount() { ::umount2(mnt.c_str(), MNT_DETACH); }
  } unmount{mnt};
  write_file_atomic(mnt + "/dirty", "in the page cache\n");  // no sync
  FsFreeze f(mnt);
  auto ev = f.apply(contract::FreezeMsg{true});
  ASSERT_EQ(ev.error, "");
  EXPECT_TRUE(ev.frozen);
  EXPECT_TRUE(f.frozen());
  EXPECT_TRUE(f.apply(contract::FreezeMsg{true}).frozen) << "freezing again is no error";
  // The image file holds the data now, as the host reads it.
  EXPECT_EQ(sh("debugfs -R 'cat /dirty' " + disk + " 2>/dev/null | grep -qx 'in the page cache'"), 0);
  // A writer waits while the file system is frozen.
  pid_t w = ::fork();
  ASSERT_GE(w, 0);
  if (w == 0) {
    int fd = ::open((mnt + "/later").c_str(), O_WRONLY | O_CREAT, 0644);
    ::_exit(fd >= 0 && ::write(fd, "x", 1) == 1 && ::fsync(fd) == 0 ? 0 : 1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int st = 0;
  EXPECT_EQ(::waitpid(w, &st, WNOHANG), 0) << "the writer went through a frozen file system";
  ev = f.apply(contract::FreezeMsg{false});
  EXPECT_EQ(ev.error, "");
  EXPECT_FALSE(ev.frozen);
  ASSERT_EQ(::waitpid(w, &st, 0), w);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  // And the destructor thaws what is still frozen.
  {
    FsFreeze g(mnt);
    ASSERT_TRUE(g.apply(contract::FreezeMsg{true}).frozen);
  }
  EXPECT_EQ(sh("timeout 10 sh -c 'echo y > " + mnt + "/after'"), 0);
}

}  // namespace
}  // namespace hvrun::guestinit
