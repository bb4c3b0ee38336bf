// A microVM's upper layer read out of its ext4 writable disk with libext2fs
// (engine/vm_changes): the disk is made here with mkfs.ext4 -d from a tree
// in overlay format, as the guest leaves it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "engine/vm_changes.hpp"
#include "image/changes.hpp"
#include "tests/unit/image_test_util.hpp"
#include "util/error.hpp"

using namespace hvrun;
using namespace hvrun::image::testing;

namespace {

TEST(VmUpper, CopiesTheOverlayUpperOutOfAnExt4DiskWithWhiteoutsXattrsLinksAndData) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (whiteouts, trusted.* xattrs)";
  Tmp tmp;
  const std::string src = tmp.path + "/src", up = src + "/upper";
  mkdir_p(up + "/etc");
  mkdir_p(up + "/data");
  write_file_atomic(up + "/added.txt", "new\n");
  write_file_atomic(up + "/etc/keep", "changed\n");
  ASSERT_EQ(::chmod((up + "/etc/keep").c_str(), 0640), 0);
  ASSERT_EQ(::chown((up + "/etc/keep").c_str(), 1000, 1001), 0);
  ASSERT_EQ(::mknod((up + "/etc/gone").c_str(), S_IFCHR, ::makedev(0, 0)), 0);
  ASSERT_EQ(::setxattr((up + "/data").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = char('a' + i % 26);
  write_file_atomic(up + "/data/big", big);
  ASSERT_EQ(::link((up + "/data/big").c_str(), (up + "/data/big-link").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/keep", (up + "/link").c_str()), 0);
  std::string long_target(200, 'l');
  ASSERT_EQ(::symlink(long_target.c_str(), (up + "/longlink").c_str()), 0);
  const std::string disk = tmp.path + "/vm-rw.ext4";
  ASSERT_EQ(sh("truncate -s 64M " + disk + " && mkfs.ext4 -q -F -O ^has_journal -d " + src + " " + disk), 0);

  const std::string out = tmp.path + "/out";
  engine::copy_out_of_ext4(disk, "/upper", out, true);
  EXPECT_EQ(read_file(out + "/added.txt"), "new\n");
  EXPECT_EQ(read_file(out + "/data/big"), big);
  struct stat st, st2;
  ASSERT_EQ(::lstat((out + "/etc/keep").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  ASSERT_EQ(::lstat((out + "/etc/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0) << "whiteout lost";
  char v[2] = {};
  EXPECT_EQ(::getxattr((out + "/data").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
  ASSERT_EQ(::lstat((out + "/data/big").c_str(), &st), 0);
  ASSERT_EQ(::lstat((out + "/data/big-link").c_str(), &st2), 0);
  EXPECT_EQ(st.st_ino, st2.st_ino) << "hard link not kept";
  char t[512];
  ssize_t n = ::readlink((out + "/link").c_str(), t, sizeof t);
  EXPECT_EQ(std::string(t, size_t(std::max<ssize_t>(n, 0))), "/etc/keep");
  n = ::readlink((out + "/longlink").c_str(), t, sizeof t);
  EXPECT_EQ(std::string(t, size_t(std::max<ssize_t>(n, 0))), long_target);

  // Metadata only (diff): sizes kept, no data read.
  const std::string meta = tmp.path + "/meta";
  engine::copy_out_of_ext4(disk, "/upper", meta, false);
  ASSERT_EQ(::stat((meta + "/data/big").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, off_t(big.size()));
  EXPECT_LT(st.st_blocks, 16) << "data was copied";
}

TEST(VmUpper, AMissingUpperIsEmptyAndAMissingOrBadDiskIsAnError) {
  Tmp tmp;
  const std::string disk = tmp.path + "/vm-rw.ext4";
  ASSERT_EQ(sh("truncate -s 16M " + disk + " && mkfs.ext4 -q -F " + disk), 0);
  engine::copy_out_of_ext4(disk, "/upper", tmp.path + "/out", true);
  EXPECT_TRUE(list_dir(tmp.path + "/out").empty());
  EXPECT_THROW(engine::VmUpper(tmp.path + "/none.ext4", tmp.path, engine::VmUpper::Content::Data), Error);
  write_file_atomic(tmp.path + "/junk.ext4", std::string(1 << 16, 'j'));
  try {
    engine::copy_out_of_ext4(tmp.path + "/junk.ext4", "/upper", tmp.path + "/out2", true);
    ADD_FAILURE() << "junk disk accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.ext4"), std::string::npos) << e.what();
  }
}

}  // namespace
