// P9Server's requests on the directory tree: mkdir and readdir, unlinkat,
// rename, link, symlink, mknod, remove, and the bounds on fid paths.
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

// --- directories -----------------------------------------------------------

TEST_F(P9, MkdirAndReaddirListEveryEntryAcrossSmallCounts) {
  ASSERT_EQ(attach(1, 77).type(), Tattach + 1);
  Reply m = mkdir(1, "d", 0751, 88);
  ASSERT_EQ(m.type(), Tmkdir + 1) << m.err();
  EXPECT_EQ(m.qid().type, 0x80);
  struct stat st = lstat_of(host("d"));
  EXPECT_EQ(st.st_mode, S_IFDIR | 0751u);
  EXPECT_EQ(st.st_uid, 77u);
  EXPECT_EQ(st.st_gid, 88u);

  std::set<std::string> want = {".", ".."};
  for (int i = 0; i < 60; ++i) {
    std::string n = "file-with-a-longish-name-" + std::to_string(i);
    write_file(host("d/" + n), "");
    want.insert(n);
  }
  ::mkdir(host("d/subdir").c_str(), 0755);
  ::symlink("target", host("d/alink").c_str());
  want.insert("subdir");
  want.insert("alink");

  walk_ok(1, 2, {"d"});
  ASSERT_EQ(lopen(2, kRdonly | kDirectory).type(), Tlopen + 1);
  std::multiset<std::string> got;
  uint64_t off = 0;
  int calls = 0;
  for (;; ++calls) {
    ASSERT_LT(calls, 200);
    Reply r = readdir(2, off, 200);  // a few entries per call
    ASSERT_EQ(r.type(), Treaddir + 1) << r.err();
    std::vector<DirEntry> es = entries(r);
    if (es.empty()) break;
    for (const auto& e : es) {
      got.insert(e.name);
      if (e.name == "subdir") {
        EXPECT_EQ(e.qid.type, 0x80);
        EXPECT_EQ(e.type, DT_DIR);
        EXPECT_EQ(e.qid.path, lstat_of(host("d/subdir")).st_ino);
      }
      if (e.name == "alink") {
        EXPECT_EQ(e.qid.type, 0x02);
      }
    }
    off = es.back().offset;
  }
  EXPECT_GT(calls, 5);
  EXPECT_EQ(got, std::multiset<std::string>(want.begin(), want.end()));

  // Reading again from offset 0 starts over.
  Reply again = readdir(2, 0, 8192);
  EXPECT_FALSE(entries(again).empty());
  // A count too small for one entry is an error, not a false end.
  EXPECT_EQ(readdir(2, 0, 10).err(), EINVAL);
}

TEST_F(P9, UnlinkatRemovesFilesAndDirectories) {
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  ::mkdir(host("d").c_str(), 0755);
  ::mkdir(host("full").c_str(), 0755);
  write_file(host("full/x"), "");
  write_file(host("f"), "");
  EXPECT_EQ(unlinkat(1, "d", 0).err(), EISDIR);
  EXPECT_EQ(unlinkat(1, "d", 0x200).type(), Tunlinkat + 1);
  EXPECT_EQ(unlinkat(1, "full", 0x200).err(), ENOTEMPTY);
  EXPECT_EQ(unlinkat(1, "f", 0).type(), Tunlinkat + 1);
  EXPECT_FALSE(fs::exists(host("d")));
  EXPECT_FALSE(fs::exists(host("f")));
  EXPECT_EQ(unlinkat(1, "..", 0x200).err(), EINVAL);
  EXPECT_EQ(unlinkat(1, "nope", 0).err(), ENOENT);
}

TEST_F(P9, RenameRenameatLinkSymlinkReadlink) {
  ASSERT_EQ(attach(1, 500).type(), Tattach + 1);
  ::mkdir(host("a").c_str(), 0755);
  ::mkdir(host("b").c_str(), 0755);
  write_file(host("a/f"), "data");
  walk_ok(1, 2, {"a"});
  walk_ok(1, 3, {"b"});
  ASSERT_EQ(renameat(2, "f", 3, "g").type(), Trenameat + 1);
  EXPECT_FALSE(fs::exists(host("a/f")));
  EXPECT_EQ(read_file(host("b/g")), "data");

  // Trename moves the fid's own file; the fid follows it.
  walk_ok(3, 4, {"g"});
  ASSERT_EQ(call(Msg(Trename).u32(4).u32(2).str("h")).type(), Trename + 1);
  EXPECT_EQ(read_file(host("a/h")), "data");
  // A fid walked below a directory this client renamed still finds its
  // parent by "..".
  ::mkdir(host("a/sub").c_str(), 0755);
  walk_ok(1, 5, {"a", "sub"});
  ASSERT_EQ(renameat(1, "a", 1, "a2").type(), Trenameat + 1);
  walk_ok(5, 6, {"..", "..", "b"});  // from a2/sub: up to a2, up to root, into b
  EXPECT_EQ(getattr(6).qid.path, lstat_of(host("b")).st_ino);
  walk_ok(5, 7, {".."});
  EXPECT_EQ(getattr(7).qid.path, lstat_of(host("a2")).st_ino);
  EXPECT_EQ(walk(4, 9, {".."}).err(), ENOTDIR);  // fid 4 is a file

  ASSERT_EQ(link(3, 4, "hard").type(), Tlink + 1);
  EXPECT_EQ(lstat_of(host("b/hard")).st_ino, lstat_of(host("a2/h")).st_ino);
  EXPECT_EQ(lstat_of(host("a2/h")).st_nlink, 2u);
  EXPECT_EQ(link(1, 3, "dirlink").err(), EPERM);  // no hard links to directories

  Reply s = symlink(3, "sl", "../a2/h", 600);
  ASSERT_EQ(s.type(), Tsymlink + 1) << s.err();
  EXPECT_EQ(s.qid().type, 0x02);
  struct stat st = lstat_of(host("b/sl"));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_uid, 500u);
  EXPECT_EQ(st.st_gid, 600u);
  walk_ok(3, 8, {"sl"});
  Reply rl = readlink(8);
  ASSERT_EQ(rl.type(), Treadlink + 1);
  EXPECT_EQ(rl.str(), "../a2/h");
  EXPECT_EQ(readlink(3).err() != 0, true);  // not a symlink

  EXPECT_EQ(renameat(1, "missing", 1, "x").err(), ENOENT);
  EXPECT_EQ(renameat(1, "b", 1, "a/b").err(), EINVAL);
}

TEST_F(P9, TremoveUnlinksAndClunksTheFid) {
  write_file(host("gone"), "");
  ::mkdir(host("dir").c_str(), 0755);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"gone"});
  walk_ok(1, 3, {"dir"});
  size_t before = srv->fid_count();
  EXPECT_EQ(call(Msg(Tremove).u32(2)).type(), Tremove + 1);
  EXPECT_EQ(call(Msg(Tremove).u32(3)).type(), Tremove + 1);
  EXPECT_FALSE(fs::exists(host("gone")));
  EXPECT_FALSE(fs::exists(host("dir")));
  EXPECT_EQ(srv->fid_count(), before - 2);
  walk_ok(1, 4, {});
  EXPECT_EQ(call(Msg(Tremove).u32(4)).err(), EBUSY);  // the share root stays
  EXPECT_TRUE(fs::exists(root));
  EXPECT_EQ(clunk(4).err(), EBADF);  // clunked even though it failed
}

TEST_F(P9, MknodMakesFifosButNeverDeviceNodes) {
  ASSERT_EQ(attach(1, 9).type(), Tattach + 1);
  Reply f = mknod(1, "fifo", S_IFIFO | 0620, 0, 0, 10);
  ASSERT_EQ(f.type(), Tmknod + 1) << f.err();
  struct stat st = lstat_of(host("fifo"));
  EXPECT_EQ(st.st_mode, S_IFIFO | 0620u);
  EXPECT_EQ(st.st_uid, 9u);
  EXPECT_EQ(st.st_gid, 10u);
  EXPECT_EQ(mknod(1, "null", S_IFCHR | 0666, 1, 3, 0).err(), EPERM);
  EXPECT_EQ(mknod(1, "sda", S_IFBLK | 0666, 8, 0, 0).err(), EPERM);
  EXPECT_FALSE(fs::exists(host("null")));
  EXPECT_FALSE(fs::exists(host("sda")));
  // Opening a fifo must not block the server waiting for a writer.
  walk_ok(1, 2, {"fifo"});
  EXPECT_EQ(lopen(2, kRdonly).type(), Tlopen + 1);
}

TEST_F(P9, LopenOfHostDeviceNodeIsRefused) {
  ASSERT_EQ(::mknod(host("null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"null"});
  EXPECT_EQ(lopen(2, kRdwr).err(), EPERM);
}

TEST_F(P9, LcreateWithoutExclOpensOnlyAnExistingRegularFileNeverAFifoOrDevice) {
  ASSERT_EQ(::mkfifo(host("fifo").c_str(), 0666), 0);
  ASSERT_EQ(::mknod(host("null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  write_file(host("plain"), "kept");
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  // A fifo would block the server (no writer); a device would reach the host.
  walk_ok(1, 2, {});
  EXPECT_EQ(lcreate(2, "fifo", kRdonly, 0644, 0).err(), EEXIST);
  walk_ok(1, 3, {});
  EXPECT_EQ(lcreate(3, "null", kRdwr, 0644, 0).err(), EEXIST);
  walk_ok(1, 4, {});
  Reply r = lcreate(4, "plain", kRdonly, 0644, 0);
  ASSERT_EQ(r.type(), Tlcreate + 1) << r.err();
  EXPECT_EQ(read(4, 0, 100), "kept");
}

TEST_F(P9, FidPathsAreBoundedByPathMax) {
  // 255-byte names: after 16 levels the path passes PATH_MAX.
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {});
  const std::string name(255, 'd');
  int depth = 0;
  for (; depth < 20; ++depth) {
    Reply m = mkdir(2, name, 0755, 0);
    ASSERT_EQ(m.type(), Tmkdir + 1) << m.err();
    Reply w = walk(2, 2, {name});
    if (w.type() != Twalk + 1) {
      EXPECT_EQ(w.err(), ENAMETOOLONG);
      break;
    }
  }
  EXPECT_EQ(depth, PATH_MAX / 256) << "the walk that passes PATH_MAX fails";
  // Creating below the deepest fid fails the same way, and makes nothing.
  const std::string other(255, 'e');
  EXPECT_EQ(lcreate(2, other, kWronly, 0644, 0).err(), ENAMETOOLONG);
  // (On the host, one component at a time: the whole path is too long.)
  hvrun::UniqueFd at(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (int i = 0; i < depth && at; ++i) at.reset(::openat(at.get(), name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(at);
  EXPECT_EQ(::faccessat(at.get(), name.c_str(), F_OK, AT_SYMLINK_NOFOLLOW), 0) << "the last mkdir did happen";
  EXPECT_NE(::faccessat(at.get(), other.c_str(), F_OK, AT_SYMLINK_NOFOLLOW), 0);
  // std::filesystem cannot remove a tree this deep; rm can.
  EXPECT_EQ(std::system(("rm -rf '" + host(name) + "'").c_str()), 0);
}

TEST_F(P9, ARenameThatWouldPushAFidPastPathMaxFailsBeforeMoving) {
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  ASSERT_EQ(mkdir(1, "a", 0755, 0).type(), Tmkdir + 1);
  walk_ok(1, 2, {"a"});
  // A fid 15 levels of 255-byte names and one of 200 below "a": its path
  // is 1 + 15 * 256 + 201 = 4042 bytes long.
  const std::string name(255, 'd');
  for (int i = 0; i < 15; ++i) {
    ASSERT_EQ(mkdir(2, name, 0755, 0).type(), Tmkdir + 1);
    ASSERT_EQ(walk(2, 2, {name}).type(), Twalk + 1);
  }
  ASSERT_EQ(mkdir(2, std::string(200, 'e'), 0755, 0).type(), Tmkdir + 1);
  ASSERT_EQ(walk(2, 2, {std::string(200, 'e')}).type(), Twalk + 1);
  // Renaming "a" to a 255-byte name would make that path 4042 + 254 long.
  const std::string longer(255, 'b');
  EXPECT_EQ(call(Msg(Trenameat).u32(1).str("a").u32(1).str(longer)).err(), ENAMETOOLONG);
  walk_ok(1, 3, {});
  EXPECT_EQ(call(Msg(Trename).u32(3).u32(1).str(longer)).err(), EBUSY) << "the root cannot be renamed";
  EXPECT_TRUE(fs::exists(host("a"))) << "nothing moved";
  EXPECT_FALSE(fs::exists(host(longer)));
  EXPECT_EQ(call(Msg(Trenameat).u32(1).str("a").u32(1).str("c")).type(), Trenameat + 1) << "a short name is fine";
  EXPECT_EQ(std::system(("rm -rf '" + host("c") + "'").c_str()), 0);
}

TEST_F(P9, TheBytesOfAllFidPathsAreBoundedAndClunkingFreesThem) {
  srv = std::make_unique<P9Server>(root, false, P9Server::kMaxFids, 64 * 1024);
  ASSERT_EQ(call(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L")).type(), Tversion + 1);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {});
  const std::string name(255, 'd');
  for (int i = 0; i < 15; ++i) {  // fid 2: a 15 * 256 - 1 = 3839-byte path
    ASSERT_EQ(mkdir(2, name, 0755, 0).type(), Tmkdir + 1);
    ASSERT_EQ(walk(2, 2, {name}).type(), Twalk + 1);
  }
  // Clones of fid 2 until the 64 KiB budget is spent: 17 fit (17 * 3839).
  uint32_t id = 100;
  for (; id < 200; ++id) {
    Reply r = walk(2, id, {});
    if (r.type() != Twalk + 1) {
      EXPECT_EQ(r.err(), ENFILE);
      break;
    }
  }
  EXPECT_EQ(id - 100, 64u * 1024 / 3839 - 1) << "fid 2 itself counts too";
  EXPECT_EQ(walk(2, id, {}).err(), ENFILE);
  ASSERT_EQ(call(Msg(Tclunk).u32(100)).type(), Tclunk + 1);
  EXPECT_EQ(walk(2, id, {}).type(), Twalk + 1) << "a clunk gives its bytes back";
  EXPECT_EQ(std::system(("rm -rf '" + host(name) + "'").c_str()), 0);
}

TEST_F(P9, ReadlinkReplyNeverExceedsMsize) {
  const std::string target(PATH_MAX - 1, 't');
  ASSERT_EQ(::symlink(target.c_str(), host("long").c_str()), 0);
  Reply v = call(Msg(Tversion, 0xffff).u32(P9Server::kMinMsize).str("9P2000.L"));
  ASSERT_EQ(v.type(), Tversion + 1);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"long"});
  Reply r = call(Msg(Treadlink).u32(2));
  EXPECT_LE(r.size(), P9Server::kMinMsize);
  EXPECT_EQ(r.err(), ENAMETOOLONG);
}

}  // namespace
