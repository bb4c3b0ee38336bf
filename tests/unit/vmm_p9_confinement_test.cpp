// P9Server confinement: nothing the client sends reaches outside the share
// (dot-dot, bad names, symlinks in and out of it), and a read-only share
// refuses every modifying request and leaves host atimes alone.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/unit/p9_server_fixture.hpp"

using namespace hvrun::vmm;
using namespace hvrun::vmm::p9test;
namespace fs = std::filesystem;

namespace {

// --- confinement -----------------------------------------------------------

TEST_F(P9, DotDotFromTheRootStaysAtTheRoot) {
  ::mkdir(host("d").c_str(), 0755);
  ::mkdir(host("d/e").c_str(), 0755);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  uint64_t root_ino = lstat_of(root).st_ino;
  Reply r = walk(1, 2, {"..", "..", "..", "..", ".."});
  ASSERT_EQ(r.type(), Twalk + 1);
  ASSERT_EQ(r.u16(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r.qid().path, root_ino);
  EXPECT_EQ(getattr(2).qid.path, root_ino);

  walk_ok(1, 3, {"d", "e", "..", "..", "..", "..", "d"});
  EXPECT_EQ(getattr(3).qid.path, lstat_of(host("d")).st_ino);
  walk_ok(1, 4, {"d", "e", ".", "..", "..", ".."});
  EXPECT_EQ(getattr(4).qid.path, root_ino);
  // Whatever it walks, a fid at the root lists the share, not its parent.
  ASSERT_EQ(lopen(4, kRdonly).type(), Tlopen + 1);
  Reply rd = readdir(4, 0, 8192);
  std::set<std::string> names;
  for (const auto& e : entries(rd)) {
    names.insert(e.name);
    if (e.name == "..") {
      EXPECT_EQ(e.qid.path, root_ino);  // not the host directory above the share
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{".", "..", "d"}));
}

TEST_F(P9, WalkRefusesNamesWithSlashNulOrEmpty) {
  ::mkdir(host("d").c_str(), 0755);
  write_file(host("d/f"), "");
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  EXPECT_EQ(walk(1, 2, {"d/f"}).err(), EINVAL);
  EXPECT_EQ(walk(1, 2, {"/etc"}).err(), EINVAL);
  EXPECT_EQ(walk(1, 2, {"../.."}).err(), EINVAL);
  EXPECT_EQ(walk(1, 2, {""}).err(), EINVAL);
  EXPECT_EQ(walk(1, 2, {std::string("d\0f", 3)}).err(), EINVAL);
  EXPECT_EQ(clunk(2).err(), EBADF);
  EXPECT_EQ(mkdir(1, "x/y", 0755, 0).err(), EINVAL);
  EXPECT_EQ(lcreate(1, "../escape", kRdwr, 0644, 0).err(), EINVAL);
  EXPECT_EQ(symlink(1, "..", "/", 0).err(), EINVAL);
  EXPECT_FALSE(fs::exists(dir.path + "/../escape"));
}

class P9Outside : public P9 {
 protected:
  TempDir outside;
  void SetUp() override {
    P9::SetUp();
    write_file(outside.path + "/secret", "top secret");
    ::chmod((outside.path + "/secret").c_str(), 0600);
    ASSERT_EQ(::symlink("/", host("to-root").c_str()), 0);
    ASSERT_EQ(::symlink("../..", host("up").c_str()), 0);
    ASSERT_EQ(::symlink(outside.path.c_str(), host("out").c_str()), 0);
    ASSERT_EQ(::symlink((outside.path + "/secret").c_str(), host("secret-link").c_str()), 0);
    ASSERT_EQ(attach(1).type(), Tattach + 1);
  }
};

TEST_F(P9Outside, WalkOntoSymlinkGivesTheLinkNotItsTarget) {
  for (const char* n : {"to-root", "up", "out", "secret-link"}) {
    walk_ok(1, 2, {n});
    Attr a = getattr(2);
    EXPECT_TRUE(S_ISLNK(a.mode)) << n;
    EXPECT_EQ(a.qid.type, 0x02) << n;
    EXPECT_EQ(a.qid.path, lstat_of(host(n)).st_ino) << n;
    EXPECT_EQ(lopen(2, kRdonly).err(), ELOOP) << n;
    ASSERT_EQ(clunk(2).type(), Tclunk + 1);
  }
  // Walking through a symlink to a directory stops at the link: one qid,
  // newfid not bound.
  for (std::vector<std::string> names : {std::vector<std::string>{"to-root", "etc", "passwd"}, {"out", "secret"}, {"up", ".."}}) {
    Reply r = walk(1, 3, names);
    ASSERT_EQ(r.type(), Twalk + 1) << names[0] << " " << r.err();
    EXPECT_EQ(r.u16(), 1) << names[0];
    EXPECT_EQ(r.qid().type, 0x02) << names[0];
    EXPECT_EQ(clunk(3).err(), EBADF);
  }
  // From a fid on the link itself, the first step already fails.
  walk_ok(1, 5, {"out"});
  EXPECT_EQ(walk(5, 6, {"secret"}).err(), ENOTDIR);
  EXPECT_EQ(walk(5, 6, {".."}).err(), ENOTDIR);
  // The client reads the link text and resolves it itself.
  walk_ok(1, 4, {"to-root"});
  Reply rl = readlink(4);
  ASSERT_EQ(rl.type(), Treadlink + 1);
  EXPECT_EQ(rl.str(), "/");
}

TEST_F(P9Outside, NothingFollowsASymlinkOutOfTheShare) {
  auto before = snapshot(outside.path);
  walk_ok(1, 2, {"out"});
  EXPECT_NE(lcreate(2, "planted", kRdwr, 0644, 0).err(), 0);
  EXPECT_NE(mkdir(2, "planted-dir", 0755, 0).err(), 0);
  EXPECT_NE(symlink(2, "planted-link", "x", 0).err(), 0);
  EXPECT_NE(mknod(2, "planted-fifo", S_IFIFO | 0644, 0, 0, 0).err(), 0);
  EXPECT_NE(unlinkat(2, "secret", 0).err(), 0);
  EXPECT_NE(renameat(2, "secret", 1, "stolen").err(), 0);
  // Tlcreate of a name that is a symlink to an outside file: no open through it.
  walk_ok(1, 3, {});
  EXPECT_EQ(lcreate(3, "secret-link", kRdwr | kTrunc, 0644, 0).err(), ELOOP);
  // Tsetattr on the symlink changes nothing behind it.
  walk_ok(1, 4, {"secret-link"});
  EXPECT_EQ(setattr(4, 0x1, 0777, 0, 0, 0).err(), EOPNOTSUPP);
  EXPECT_EQ(setattr(4, 0x8, 0, 0, 0, 0).err(), EINVAL);
  EXPECT_EQ(setattr(4, 0x10 | 0x20 | 0x80 | 0x100, 0, 0, 0, 0, 1, 0, 1, 0).type(), Tsetattr + 1);  // the link's own times
  EXPECT_EQ(setattr(4, 0x6, 0, 4242, 4242, 0).type(), Tsetattr + 1);  // the link's own owner
  EXPECT_EQ(lstat_of(host("secret-link")).st_uid, 4242u);
  // Tlink of the symlink fid links the symlink, not the outside file.
  ASSERT_EQ(link(3, 4, "hard-to-link").type(), Tlink + 1);
  EXPECT_TRUE(S_ISLNK(lstat_of(host("hard-to-link")).st_mode));
  // Truncating via a walked fid: lopen of the link refused.
  EXPECT_EQ(lopen(4, kWronly | kTrunc).err(), ELOOP);

  EXPECT_EQ(snapshot(outside.path), before);
  EXPECT_EQ(read_file(outside.path + "/secret"), "top secret");
  EXPECT_EQ(lstat_of(outside.path + "/secret").st_mode, S_IFREG | 0600u);
}

TEST_F(P9Outside, StatfsAndFsyncWork) {
  Reply s = call(Msg(Tstatfs).u32(1));
  ASSERT_EQ(s.type(), Tstatfs + 1) << s.err();
  s.u32();
  EXPECT_GT(s.u32(), 0u);  // bsize
  EXPECT_GT(s.u64(), 0u);  // blocks
  walk_ok(1, 2, {});
  EXPECT_EQ(call(Msg(Tfsync).u32(2).u32(1)).err(), EBADF);  // not open
}

// --- readonly --------------------------------------------------------------

TEST_F(P9, ReadingThroughAReadonlyShareLeavesTheHostAtimeAlone) {
  write_file(host("f"), "data");
  auto atime_after_read = [&](bool readonly) {
    struct timespec old[2] = {{946684800, 0}, {0, UTIME_OMIT}};  // atime 2000-01-01, before mtime
    EXPECT_EQ(::utimensat(AT_FDCWD, host("f").c_str(), old, 0), 0);
    start(readonly);
    EXPECT_EQ(attach(1).type(), Tattach + 1);
    walk_ok(1, 2, {"f"});
    EXPECT_EQ(lopen(2, kRdonly).type(), Tlopen + 1);
    EXPECT_EQ(read(2, 0, 100), "data");
    return lstat_of(host("f")).st_atim.tv_sec;
  };
  // The control: a writable share's read does move it (relatime: atime < mtime).
  ASSERT_NE(atime_after_read(false), 946684800) << "this file system does not update atime: the test proves nothing";
  EXPECT_EQ(atime_after_read(true), 946684800);
}

TEST_F(P9, ReadonlyRefusesEveryModifyingOpWithErofs) {
  ::mkdir(host("d").c_str(), 0755);
  write_file(host("d/f"), "keep");
  ::symlink("d/f", host("l").c_str());
  start(true);
  auto before = snapshot(root);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"d"});
  walk_ok(1, 3, {"d", "f"});
  walk_ok(1, 4, {});
  walk_ok(1, 5, {"d", "f"});
  EXPECT_EQ(lcreate(4, "new", kRdwr, 0644, 0).err(), EROFS);
  EXPECT_EQ(mkdir(1, "nd", 0755, 0).err(), EROFS);
  EXPECT_EQ(symlink(1, "ns", "x", 0).err(), EROFS);
  EXPECT_EQ(mknod(1, "nf", S_IFIFO | 0644, 0, 0, 0).err(), EROFS);
  EXPECT_EQ(call(Msg(Trename).u32(3).u32(1).str("moved")).err(), EROFS);
  EXPECT_EQ(renameat(2, "f", 1, "moved").err(), EROFS);
  EXPECT_EQ(unlinkat(2, "f", 0).err(), EROFS);
  EXPECT_EQ(unlinkat(1, "d", 0x200).err(), EROFS);
  EXPECT_EQ(link(1, 3, "hard").err(), EROFS);
  EXPECT_EQ(setattr(3, 0x1, 0777, 0, 0, 0).err(), EROFS);
  EXPECT_EQ(setattr(3, 0x8, 0, 0, 0, 0).err(), EROFS);
  EXPECT_EQ(setattr(3, 0x20, 0, 0, 0, 0).err(), EROFS);
  EXPECT_EQ(lopen(3, kWronly).err(), EROFS);
  EXPECT_EQ(lopen(3, kRdwr).err(), EROFS);
  EXPECT_EQ(lopen(3, kRdonly | kTrunc).err(), EROFS);
  EXPECT_EQ(call(Msg(Tremove).u32(3)).err(), EROFS);
  // Reading still works.
  ASSERT_EQ(lopen(5, kRdonly).type(), Tlopen + 1);
  EXPECT_EQ(read(5, 0, 100), "keep");
  EXPECT_EQ(write(5, 0, "x").err(), EROFS);
  EXPECT_EQ(snapshot(root), before);
}

}  // namespace
