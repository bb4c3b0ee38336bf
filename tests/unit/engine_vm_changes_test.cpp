// A microVM's upper layer read out of its ext4 writable disk with libext2fs
// (engine/vm_changes): the disk is made here with mkfs.ext4 -d from a tree
// in overlay format, as the guest leaves it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

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

// The way back (hvrun cp into a stopped microVM): a copy taken out, changed,
// written back; e2fsck finds the file system clean and a second copy out
// shows exactly the changes, with the untouched entries as they were.
std::string xattr_of(const std::string& path, const std::string& name) {
  char v[256];
  ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), v, sizeof v);
  return n < 0 ? "<none>" : std::string(v, size_t(n));
}

TEST(VmUpper, ACopyChangedOnTheHostIsWrittenBackIntoTheDiskWhichE2fsckFindsClean) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (whiteouts, owners, trusted.* xattrs)";
  Tmp tmp;
  const std::string src = tmp.path + "/src", up = src + "/upper";
  mkdir_p(up + "/etc");
  mkdir_p(up + "/old/sub");
  write_file_atomic(up + "/unchanged", "as it was\n");
  ASSERT_EQ(::chown((up + "/unchanged").c_str(), 7, 8), 0);
  write_file_atomic(up + "/etc/keep", "before\n");
  write_file_atomic(up + "/removed.txt", "bye\n");
  write_file_atomic(up + "/aa-kept", "linked later\n");  // sorted before and after the new directory
  write_file_atomic(up + "/zz-kept", "linked later too\n");
  write_file_atomic(up + "/old/sub/deep", std::string(1 << 20, 'd'));  // 1 MiB of blocks to free
  ASSERT_EQ(::link((up + "/unchanged").c_str(), (up + "/unchanged-link").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/keep", (up + "/link").c_str()), 0);
  ASSERT_EQ(::setxattr((up + "/etc").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  ASSERT_EQ(::setxattr((up + "/etc").c_str(), "trusted.overlay.impure", "y", 1, 0), 0);  // the guest overlay's own
  const std::string disk = tmp.path + "/vm-rw.ext4";
  ASSERT_EQ(sh("truncate -s 64M " + disk + " && mkfs.ext4 -q -F -O ^has_journal -d " + src + " " + disk), 0);
  auto free_blocks = [&] {
    std::string r;
    if (FILE* f = ::popen(("dumpe2fs -h " + disk + " 2>/dev/null | sed -n 's/^Free blocks: *//p'").c_str(), "r")) {
      char b[64];
      while (std::fgets(b, sizeof b, f)) r += b;
      ::pclose(f);
    }
    return std::stoll(r.empty() ? "0" : r);
  };
  const long long free_before = free_blocks();

  const std::string out = tmp.path + "/out";
  engine::copy_out_of_ext4(disk, "/upper", out, true);
  const std::string marker = tmp.path + "/since";
  write_file_atomic(marker, "");
  struct stat m {};
  ASSERT_EQ(::stat(marker.c_str(), &m), 0);
  // The changes, as an archive unpacked into the merged view makes them.
  write_file_atomic(out + "/etc/keep", "after\n");
  ASSERT_EQ(::unlink((out + "/removed.txt").c_str()), 0);
  ASSERT_EQ(sh("rm -rf " + out + "/old"), 0);
  ASSERT_EQ(::unlink((out + "/link").c_str()), 0);
  write_file_atomic(out + "/link", "a file where a symlink was\n");
  ASSERT_EQ(::mknod((out + "/etc/whiteout").c_str(), S_IFCHR, ::makedev(0, 0)), 0);
  mkdir_p(out + "/new/many");
  for (int i = 0; i < 400; ++i)  // more names than one directory block holds
    write_file_atomic(out + "/new/many/file-with-a-long-name-" + std::to_string(i), std::to_string(i));
  std::string sparse(3 << 20, '\0');
  sparse.replace(2 << 20, 5, "tail!");
  write_file_atomic(out + "/new/sparse", sparse);
  ASSERT_EQ(::chown((out + "/new/sparse").c_str(), 100000, 100001), 0);
  ASSERT_EQ(::chmod((out + "/new/sparse").c_str(), 04711), 0);
  ASSERT_EQ(::setxattr((out + "/new/sparse").c_str(), "user.note", "kept", 4, 0), 0);
  ASSERT_EQ(::setxattr((out + "/new").c_str(), "trusted.overlay.origin", "host-handle", 11, 0), 0);
  ASSERT_EQ(::setxattr((out + "/new").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  // A user-namespaced overlay's marks (userxattr): the opaque one goes in, not the rest.
  ASSERT_EQ(::setxattr((out + "/new/many").c_str(), "user.overlay.opaque", "y", 1, 0), 0);
  ASSERT_EQ(::setxattr((out + "/new/many").c_str(), "user.overlay.origin", "h", 1, 0), 0);
  ASSERT_EQ(::link((out + "/new/sparse").c_str(), (out + "/new/sparse-link").c_str()), 0);
  ASSERT_EQ(::symlink(std::string(300, 's').c_str(), (out + "/new/longlink").c_str()), 0);
  ASSERT_EQ(::mkfifo((out + "/new/fifo").c_str(), 0600), 0);
  ASSERT_EQ(::chmod((out + "/new/fifo").c_str(), 0620), 0);
  write_file_atomic(out + "/new/big", std::string(2 << 20, 'b'));
  struct timespec t[2] = {{1000000000, 123456789}, {1000000000, 123456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (out + "/new/sparse").c_str(), t, 0), 0);
  // Hard links, into a new directory, to files the disk already held.
  mkdir_p(out + "/linked");
  ASSERT_EQ(::link((out + "/aa-kept").c_str(), (out + "/linked/aa").c_str()), 0);
  ASSERT_EQ(::link((out + "/zz-kept").c_str(), (out + "/linked/zz").c_str()), 0);

  engine::write_back_to_ext4(disk, out, "/upper", m.st_ctim);
  EXPECT_EQ(sh("e2fsck -fn " + disk + " >/dev/null 2>&1"), 0) << "e2fsck finds the written file system unclean";

  const std::string again = tmp.path + "/again";
  engine::copy_out_of_ext4(disk, "/upper", again, true);
  EXPECT_EQ(read_file(again + "/etc/keep"), "after\n");
  EXPECT_FALSE(path_exists(again + "/removed.txt"));
  EXPECT_FALSE(path_exists(again + "/old"));
  EXPECT_EQ(read_file(again + "/link"), "a file where a symlink was\n");
  EXPECT_EQ(xattr_of(again + "/etc", "trusted.overlay.opaque"), "y") << "a changed directory's opaque mark lost";
  EXPECT_EQ(xattr_of(again + "/etc", "trusted.overlay.impure"), "y") << "the guest overlay's own xattr lost";
  EXPECT_EQ(xattr_of(again + "/new/many", "user.overlay.opaque"), "y");
  EXPECT_EQ(xattr_of(again + "/new/many", "user.overlay.origin"), "<none>");
  struct stat st {}, st2 {};
  ASSERT_EQ(::lstat((again + "/etc/whiteout").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0) << "whiteout not written";
  EXPECT_EQ(list_dir(again + "/new/many").size(), 400u);
  EXPECT_EQ(read_file(again + "/new/many/file-with-a-long-name-399"), "399");
  EXPECT_EQ(read_file(again + "/new/sparse"), sparse);
  ASSERT_EQ(::lstat((again + "/new/sparse").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 100000u);
  EXPECT_EQ(st.st_gid, 100001u);
  EXPECT_EQ(st.st_mode & 07777, 04711u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
  EXPECT_EQ(xattr_of(again + "/new/sparse", "user.note"), "kept");
  EXPECT_EQ(xattr_of(again + "/new", "trusted.overlay.opaque"), "y");
  EXPECT_EQ(xattr_of(again + "/new", "trusted.overlay.origin"), "<none>") << "the host overlay's own xattr went in";
  ASSERT_EQ(::lstat((again + "/new/sparse-link").c_str(), &st2), 0);
  EXPECT_EQ(st.st_ino, st2.st_ino) << "hard link not kept";
  char buf[512];
  ssize_t n = ::readlink((again + "/new/longlink").c_str(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, size_t(std::max<ssize_t>(n, 0))), std::string(300, 's'));
  ASSERT_EQ(::lstat((again + "/new/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0620u);
  for (const std::string name : {"aa", "zz"}) {
    ASSERT_EQ(::lstat((again + "/" + name + "-kept").c_str(), &st), 0);
    ASSERT_EQ(::lstat((again + "/linked/" + name).c_str(), &st2), 0);
    EXPECT_EQ(st.st_ino, st2.st_ino) << name << ": a hard link into a new directory became a second inode";
    EXPECT_EQ(st.st_nlink, 2u) << name;
    EXPECT_EQ(read_file(again + "/linked/" + name), name == "aa" ? "linked later\n" : "linked later too\n");
  }
  // Untouched: as it was, its hard link too.
  EXPECT_EQ(read_file(again + "/unchanged"), "as it was\n");
  ASSERT_EQ(::lstat((again + "/unchanged").c_str(), &st), 0);
  ASSERT_EQ(::lstat((again + "/unchanged-link").c_str(), &st2), 0);
  EXPECT_EQ(st.st_uid, 7u);
  EXPECT_EQ(st.st_ino, st2.st_ino);

  // A second round removes the 2 MiB file: its blocks are free again.
  const long long free_with_big = free_blocks();
  const std::string since2 = tmp.path + "/since2";
  write_file_atomic(since2, "");
  ASSERT_EQ(::stat(since2.c_str(), &m), 0);
  ASSERT_EQ(::unlink((again + "/new/big").c_str()), 0);
  engine::write_back_to_ext4(disk, again, "/upper", m.st_ctim);
  EXPECT_EQ(sh("e2fsck -fn " + disk + " >/dev/null 2>&1"), 0);
  EXPECT_GE(free_blocks() - free_with_big, (2 << 20) / 4096) << "the removed file's blocks were not freed";
  EXPECT_GT(free_before, 0);
  const std::string third = tmp.path + "/third";
  engine::copy_out_of_ext4(disk, "/upper", third, true);
  EXPECT_FALSE(path_exists(third + "/new/big"));
  EXPECT_EQ(read_file(third + "/new/sparse"), sparse);
}

TEST(VmUpper, WrittenBackIntoADiskTheGuestNeverUsedTheUpperDirectoryIsMade) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (owners)";
  Tmp tmp;
  const std::string disk = tmp.path + "/vm-rw.ext4";
  ASSERT_EQ(sh("truncate -s 16M " + disk + " && mkfs.ext4 -q -F -O ^has_journal " + disk), 0);
  const std::string out = tmp.path + "/out";
  engine::copy_out_of_ext4(disk, "/upper", out, true);
  EXPECT_TRUE(list_dir(out).empty());
  timespec since{};
  ::clock_gettime(CLOCK_REALTIME, &since);
  since.tv_sec -= 1;
  mkdir_p(out + "/etc");
  write_file_atomic(out + "/etc/config", "copied in\n");
  engine::write_back_to_ext4(disk, out, "/upper", since);
  EXPECT_EQ(sh("e2fsck -fn " + disk + " >/dev/null 2>&1"), 0);
  const std::string again = tmp.path + "/again";
  engine::copy_out_of_ext4(disk, "/upper", again, true);
  EXPECT_EQ(read_file(again + "/etc/config"), "copied in\n");
  try {
    engine::write_back_to_ext4(tmp.path + "/none.ext4", out, "/upper", since);
    ADD_FAILURE() << "a missing disk accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("none.ext4"), std::string::npos) << e.what();
  }
}

}  // namespace
