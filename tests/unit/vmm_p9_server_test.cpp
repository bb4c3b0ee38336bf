// P9Server (9P2000.L) driven with encoded messages on a temp directory. The
// client is treated as hostile: escapes from the share, malformed messages
// and readonly violations must all end in an Rlerror and leave the host
// untouched.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/p9_test_util.hpp"
#include "tests/unit/virtio_test_driver.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/p9_server.hpp"
#include "vmm/virtio_9p.hpp"
#include "vmm/virtio_mmio.hpp"

using namespace hvrun::vmm;
using namespace hvrun::vmm::p9test;
namespace fs = std::filesystem;

namespace {

struct Attr {
  Qid qid;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t nlink = 0, size = 0, atime = 0, mtime = 0, mtime_nsec = 0;
};

struct DirEntry {
  Qid qid;
  uint64_t offset;
  uint8_t type;
  std::string name;
};

class P9 : public ::testing::Test {
 protected:
  TempDir dir;
  std::string root = dir.path;
  std::unique_ptr<P9Server> srv;
  uint16_t next_tag = 1;

  void SetUp() override { start(false); }
  void start(bool readonly) {
    srv = std::make_unique<P9Server>(root, readonly);
    Reply v = call(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L"));
    ASSERT_EQ(v.type(), Tversion + 1);
  }

  Reply call(const Msg& m) { return Reply(srv->handle(m.bytes())); }
  std::string host(const std::string& rel) const { return root + "/" + rel; }

  Reply attach(uint32_t fid, uint32_t uid = 0) { return call(Msg(Tattach).u32(fid).u32(kNoFid).str("root").str("").u32(uid)); }
  Reply walk(uint32_t fid, uint32_t newfid, const std::vector<std::string>& names) {
    Msg m(Twalk);
    m.u32(fid).u32(newfid).u16(static_cast<uint16_t>(names.size()));
    for (const auto& n : names) m.str(n);
    return call(m);
  }
  // Walks `names` from fid into newfid; fails the test unless every name walked.
  void walk_ok(uint32_t fid, uint32_t newfid, const std::vector<std::string>& names) {
    Reply r = walk(fid, newfid, names);
    ASSERT_EQ(r.type(), Twalk + 1) << "walk error " << r.err();
    ASSERT_EQ(r.u16(), names.size());
  }
  Reply lopen(uint32_t fid, uint32_t flags) { return call(Msg(Tlopen).u32(fid).u32(flags)); }
  Reply lcreate(uint32_t fid, const std::string& name, uint32_t flags, uint32_t mode, uint32_t gid) {
    return call(Msg(Tlcreate).u32(fid).str(name).u32(flags).u32(mode).u32(gid));
  }
  Reply write(uint32_t fid, uint64_t off, const std::string& data) {
    return call(Msg(Twrite).u32(fid).u64(off).u32(static_cast<uint32_t>(data.size())).raw(std::vector<uint8_t>(data.begin(), data.end())));
  }
  // Rread data as a string; "" and a test failure on error.
  std::string read(uint32_t fid, uint64_t off, uint32_t count) {
    Reply r = call(Msg(Tread).u32(fid).u64(off).u32(count));
    if (r.type() != Tread + 1) {
      ADD_FAILURE() << "read error " << r.err();
      return {};
    }
    uint32_t n = r.u32();
    std::vector<uint8_t> d = r.rest();
    EXPECT_EQ(d.size(), n);
    return std::string(d.begin(), d.end());
  }
  Reply clunk(uint32_t fid) { return call(Msg(Tclunk).u32(fid)); }
  Attr getattr(uint32_t fid) {
    Reply r = call(Msg(Tgetattr).u32(fid).u64(0x3fff));
    Attr a;
    if (r.type() != Tgetattr + 1) {
      ADD_FAILURE() << "getattr error " << r.err();
      return a;
    }
    EXPECT_EQ(r.u64(), 0x7ffu);
    a.qid = r.qid();
    a.mode = r.u32();
    a.uid = r.u32();
    a.gid = r.u32();
    a.nlink = r.u64();
    r.u64();  // rdev
    a.size = r.u64();
    r.u64();  // blksize
    r.u64();  // blocks
    a.atime = r.u64();
    r.u64();
    a.mtime = r.u64();
    a.mtime_nsec = r.u64();
    for (int i = 0; i < 6; ++i) r.u64();
    EXPECT_TRUE(r.at_end());
    return a;
  }
  Reply setattr(uint32_t fid, uint32_t valid, uint32_t mode, uint32_t uid, uint32_t gid, uint64_t size, uint64_t asec = 0,
                uint64_t ansec = 0, uint64_t msec = 0, uint64_t mnsec = 0) {
    return call(Msg(Tsetattr).u32(fid).u32(valid).u32(mode).u32(uid).u32(gid).u64(size).u64(asec).u64(ansec).u64(msec).u64(mnsec));
  }
  Reply readdir(uint32_t fid, uint64_t off, uint32_t count) { return call(Msg(Treaddir).u32(fid).u64(off).u32(count)); }
  std::vector<DirEntry> entries(Reply& r) {
    std::vector<DirEntry> out;
    uint32_t n = r.u32();
    EXPECT_EQ(n + 11, r.size());
    while (!r.at_end()) {
      DirEntry e;
      e.qid = r.qid();
      e.offset = r.u64();
      e.type = r.u8();
      e.name = r.str();
      out.push_back(e);
    }
    return out;
  }
  Reply mkdir(uint32_t dfid, const std::string& name, uint32_t mode, uint32_t gid) {
    return call(Msg(Tmkdir).u32(dfid).str(name).u32(mode).u32(gid));
  }
  Reply symlink(uint32_t dfid, const std::string& name, const std::string& target, uint32_t gid) {
    return call(Msg(Tsymlink).u32(dfid).str(name).str(target).u32(gid));
  }
  Reply mknod(uint32_t dfid, const std::string& name, uint32_t mode, uint32_t major, uint32_t minor, uint32_t gid) {
    return call(Msg(Tmknod).u32(dfid).str(name).u32(mode).u32(major).u32(minor).u32(gid));
  }
  Reply renameat(uint32_t ofid, const std::string& oname, uint32_t nfid, const std::string& nname) {
    return call(Msg(Trenameat).u32(ofid).str(oname).u32(nfid).str(nname));
  }
  Reply unlinkat(uint32_t dfid, const std::string& name, uint32_t flags) { return call(Msg(Tunlinkat).u32(dfid).str(name).u32(flags)); }
  Reply link(uint32_t dfid, uint32_t fid, const std::string& name) { return call(Msg(Tlink).u32(dfid).u32(fid).str(name)); }
  Reply readlink(uint32_t fid) { return call(Msg(Treadlink).u32(fid)); }
};

// --- version / attach / walk / getattr -------------------------------------

TEST_F(P9, VersionNegotiatesMsizeAndRejectsOtherVersions) {
  Reply big = call(Msg(Tversion, 0xffff).u32(64u << 20).str("9P2000.L"));
  ASSERT_EQ(big.type(), Tversion + 1);
  EXPECT_EQ(big.tag(), 0xffff);
  EXPECT_EQ(big.u32(), P9Server::kMaxMsize);
  EXPECT_EQ(big.str(), "9P2000.L");
  EXPECT_EQ(srv->msize(), P9Server::kMaxMsize);

  Reply small = call(Msg(Tversion, 0xffff).u32(8192).str("9P2000.L"));
  EXPECT_EQ(small.u32(), 8192u);
  EXPECT_EQ(srv->msize(), 8192u);

  Reply other = call(Msg(Tversion, 0xffff).u32(8192).str("9P2000.u"));
  ASSERT_EQ(other.type(), Tversion + 1);
  other.u32();
  EXPECT_EQ(other.str(), "unknown");
  // No session now: an attach is refused until a 9P2000.L Tversion.
  EXPECT_EQ(attach(1).err(), EPROTO);

  EXPECT_EQ(call(Msg(Tversion, 0xffff).u32(512).str("9P2000.L")).err(), EINVAL);
  ASSERT_EQ(call(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L")).type(), Tversion + 1);
  EXPECT_EQ(srv->msize(), 262144u);
  EXPECT_EQ(attach(1).type(), Tattach + 1);
}

TEST_F(P9, TversionStartsANewSessionDroppingFids) {
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {});
  EXPECT_EQ(srv->fid_count(), 2u);
  call(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L"));
  EXPECT_EQ(srv->fid_count(), 0u);
  EXPECT_EQ(clunk(1).err(), EBADF);
}

TEST_F(P9, AttachWalkGetattrReportHostFile) {
  ::mkdir(host("sub").c_str(), 0750);
  write_file(host("sub/hello"), "hello world");
  ::chmod(host("sub/hello").c_str(), 0604);
  Reply a = attach(1, 1000);
  ASSERT_EQ(a.type(), Tattach + 1);
  Qid rq = a.qid();
  EXPECT_EQ(rq.type, 0x80);
  EXPECT_EQ(rq.path, lstat_of(root).st_ino);

  Reply w = walk(1, 2, {"sub", "hello"});
  ASSERT_EQ(w.type(), Twalk + 1);
  ASSERT_EQ(w.u16(), 2);
  Qid q1 = w.qid(), q2 = w.qid();
  EXPECT_EQ(q1.type, 0x80);
  EXPECT_EQ(q1.path, lstat_of(host("sub")).st_ino);
  EXPECT_EQ(q2.type, 0);
  EXPECT_EQ(q2.path, lstat_of(host("sub/hello")).st_ino);

  Attr at = getattr(2);
  EXPECT_EQ(at.mode, S_IFREG | 0604u);
  EXPECT_EQ(at.size, 11u);
  EXPECT_EQ(at.qid.path, q2.path);
  EXPECT_EQ(at.nlink, 1u);
  EXPECT_EQ(getattr(1).mode & S_IFMT, static_cast<uint32_t>(S_IFDIR));
}

TEST_F(P9, WalkWithNoNamesClonesAndPartialWalkBindsNothing) {
  ::mkdir(host("a").c_str(), 0755);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  Reply c = walk(1, 2, {});
  ASSERT_EQ(c.type(), Twalk + 1);
  EXPECT_EQ(c.u16(), 0);
  EXPECT_EQ(getattr(2).qid.path, lstat_of(root).st_ino);

  Reply p = walk(1, 3, {"a", "missing", "x"});
  ASSERT_EQ(p.type(), Twalk + 1);
  EXPECT_EQ(p.u16(), 1);  // "a" walked, "missing" ended it
  EXPECT_EQ(clunk(3).err(), EBADF);
  EXPECT_EQ(walk(1, 3, {"missing"}).err(), ENOENT);
  EXPECT_EQ(clunk(3).err(), EBADF);

  // newfid == fid with names: the fid moves.
  walk_ok(2, 2, {"a"});
  EXPECT_EQ(getattr(2).qid.path, lstat_of(host("a")).st_ino);
}

// --- create / write / read -------------------------------------------------

TEST_F(P9, LcreateWriteReadBackOwnedByAttachUidAndRequestGid) {
  ASSERT_EQ(attach(1, 1234).type(), Tattach + 1);
  walk_ok(1, 2, {});
  Reply c = lcreate(2, "new.txt", kRdwr, 0640, 4321);
  ASSERT_EQ(c.type(), Tlcreate + 1) << c.err();
  Qid q = c.qid();
  EXPECT_EQ(c.u32(), 0u);  // iounit
  Reply w = write(2, 0, "first line\n");
  ASSERT_EQ(w.type(), Twrite + 1);
  EXPECT_EQ(w.u32(), 11u);
  EXPECT_EQ(write(2, 11, "second\n").type(), Twrite + 1);
  EXPECT_EQ(read(2, 0, 4096), "first line\nsecond\n");
  EXPECT_EQ(read(2, 6, 4), "line");
  EXPECT_EQ(read(2, 100, 10), "");
  ASSERT_EQ(call(Msg(Tfsync).u32(2).u32(0)).type(), Tfsync + 1);
  ASSERT_EQ(clunk(2).type(), Tclunk + 1);

  struct stat st = lstat_of(host("new.txt"));
  EXPECT_EQ(st.st_ino, q.path);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 4321u);
  EXPECT_EQ(st.st_mode, S_IFREG | 0640u);  // exactly the mode asked for, no umask of ours
  EXPECT_EQ(read_file(host("new.txt")), "first line\nsecond\n");

  // O_EXCL on an existing name fails; without it the file is opened as is.
  walk_ok(1, 3, {});
  EXPECT_EQ(lcreate(3, "new.txt", kRdwr | kExcl, 0600, 0).err(), EEXIST);
  ASSERT_EQ(lcreate(3, "new.txt", kWronly | kAppend, 0600, 0).type(), Tlcreate + 1);
  EXPECT_EQ(write(3, 0, "third\n").type(), Twrite + 1);  // O_APPEND: lands at the end
  EXPECT_EQ(read_file(host("new.txt")), "first line\nsecond\nthird\n");
  EXPECT_EQ(lstat_of(host("new.txt")).st_uid, 1234u);
}

TEST_F(P9, LopenTruncAndReadOnlyFidRefusesWrite) {
  write_file(host("f"), "0123456789");
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"f"});
  ASSERT_EQ(lopen(2, kRdonly).type(), Tlopen + 1);
  EXPECT_EQ(read(2, 0, 3), "012");
  EXPECT_EQ(write(2, 0, "x").err(), EBADF);  // opened O_RDONLY
  EXPECT_EQ(lopen(2, kRdonly).err(), EINVAL);  // already open
  walk_ok(1, 3, {"f"});
  ASSERT_EQ(lopen(3, kWronly | kTrunc).type(), Tlopen + 1);
  EXPECT_EQ(lstat_of(host("f")).st_size, 0);
  EXPECT_EQ(lopen(4, kRdonly).err(), EBADF);  // unknown fid
}

TEST_F(P9, TreadCountIsClampedToMsize) {
  call(Msg(Tversion, 0xffff).u32(4096).str("9P2000.L"));
  write_file(host("big"), std::string(10000, 'x'));
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"big"});
  ASSERT_EQ(lopen(2, kRdonly).type(), Tlopen + 1);
  std::vector<uint8_t> r = srv->handle(Msg(Tread).u32(2).u64(0).u32(100000).bytes());
  EXPECT_EQ(r.size(), 4096u);
  EXPECT_EQ(r[4], Tread + 1);
}

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

// --- setattr ---------------------------------------------------------------

TEST_F(P9, SetattrTruncatesChmodsChownsAndSetsTimes) {
  write_file(host("f"), "0123456789");
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"f"});
  ASSERT_EQ(setattr(2, 0x8, 0, 0, 0, 4).type(), Tsetattr + 1);  // size
  EXPECT_EQ(read_file(host("f")), "0123");
  ASSERT_EQ(setattr(2, 0x8, 0, 0, 0, 100).type(), Tsetattr + 1);
  EXPECT_EQ(lstat_of(host("f")).st_size, 100);
  ASSERT_EQ(setattr(2, 0x6, 0, 321, 654, 0).type(), Tsetattr + 1);  // uid+gid
  ASSERT_EQ(setattr(2, 0x1, 04751, 0, 0, 0).type(), Tsetattr + 1);  // mode
  struct stat st = lstat_of(host("f"));
  EXPECT_EQ(st.st_uid, 321u);
  EXPECT_EQ(st.st_gid, 654u);
  EXPECT_EQ(st.st_mode, S_IFREG | 04751u);
  // atime/mtime with _SET: exact values.
  ASSERT_EQ(setattr(2, 0x10 | 0x20 | 0x80 | 0x100, 0, 0, 0, 0, 1000000, 5, 2000000, 123456789).type(), Tsetattr + 1);
  st = lstat_of(host("f"));
  EXPECT_EQ(st.st_atim.tv_sec, 1000000);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123456789);
  Attr a = getattr(2);
  EXPECT_EQ(a.mtime, 2000000u);
  EXPECT_EQ(a.mtime_nsec, 123456789u);
  // mtime without _SET: now.
  ASSERT_EQ(setattr(2, 0x20, 0, 0, 0, 0).type(), Tsetattr + 1);
  EXPECT_GT(lstat_of(host("f")).st_mtim.tv_sec, 2000000);
  EXPECT_EQ(lstat_of(host("f")).st_atim.tv_sec, 1000000);  // untouched
  EXPECT_EQ(setattr(2, 0x10 | 0x80, 0, 0, 0, 0, 1, 2000000000).err(), EINVAL);  // nsec out of range
  walk_ok(1, 3, {});
  EXPECT_EQ(setattr(3, 0x8, 0, 0, 0, 0).err(), EISDIR);
}

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

// --- malformed messages ----------------------------------------------------

TEST_F(P9, MalformedMessagesGetRlerrorAndNeverCrash) {
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  // Shorter than a header: no tag to echo.
  for (size_t n : {0, 1, 4, 6}) {
    std::vector<uint8_t> b(n, 0x55);
    Reply r(srv->handle(b));
    EXPECT_EQ(r.err(), EPROTO);
    EXPECT_EQ(r.tag(), 0xffff);
  }
  // size[4] not the message length.
  std::vector<uint8_t> m = Msg(Tclunk, 42).u32(1).bytes();
  m[0] += 1;
  Reply mis(srv->handle(m));
  EXPECT_EQ(mis.err(), EPROTO);
  EXPECT_EQ(mis.tag(), 42);
  // Body truncated (Tclunk without its fid).
  EXPECT_EQ(call(Msg(Tclunk, 43)).err(), EPROTO);
  EXPECT_EQ(call(Msg(Tgetattr).u32(1).u32(0)).err(), EPROTO);
  // A string length past the end.
  EXPECT_EQ(call(Msg(Twalk).u32(1).u32(2).u16(1).u16(0xffff).u8('a')).err(), EPROTO);
  EXPECT_EQ(call(Msg(Tattach).u32(9).u32(kNoFid).u16(60000)).err(), EPROTO);
  // Twalk name count beyond the count present and beyond 16.
  EXPECT_EQ(call(Msg(Twalk).u32(1).u32(2).u16(3).str("a")).err(), EPROTO);
  std::vector<std::string> seventeen(17, ".");
  EXPECT_EQ(walk(1, 2, seventeen).err(), EINVAL);
  // Twrite count larger than the data present.
  walk_ok(1, 3, {});
  EXPECT_EQ(call(Msg(Twrite).u32(3).u64(0).u32(1000).u32(0)).err(), EPROTO);
  // Unknown fids, reused newfids, a closed fid.
  EXPECT_EQ(call(Msg(Tgetattr).u32(999).u64(0)).err(), EBADF);
  EXPECT_EQ(walk(999, 4, {}).err(), EBADF);
  EXPECT_EQ(walk(1, 3, {}).err(), EBADF);   // newfid 3 in use
  EXPECT_EQ(attach(3).err(), EBADF);        // fid 3 in use
  EXPECT_EQ(walk(1, kNoFid, {}).err(), EBADF);
  EXPECT_EQ(call(Msg(Tattach).u32(5).u32(1).str("").str("").u32(0)).err(), EBADF);  // afid without Tauth
  ASSERT_EQ(clunk(3).type(), Tclunk + 1);
  EXPECT_EQ(clunk(3).err(), EBADF);
  EXPECT_EQ(call(Msg(Tread).u32(3).u64(0).u32(10)).err(), EBADF);
  walk_ok(1, 6, {});
  EXPECT_EQ(call(Msg(Tread).u32(6).u64(0).u32(10)).err(), EBADF);  // never opened
  // Bad open flags, huge offsets.
  EXPECT_EQ(lopen(6, 3).err(), EINVAL);
  // Unknown and unsupported types.
  EXPECT_EQ(call(Msg(99)).err(), EOPNOTSUPP);
  EXPECT_EQ(call(Msg(0)).err(), EOPNOTSUPP);
  EXPECT_EQ(call(Msg(255).u64(1)).err(), EOPNOTSUPP);
  EXPECT_EQ(call(Msg(Tauth).u32(7).str("u").str("").u32(0)).err(), EOPNOTSUPP);
  // A request larger than msize.
  call(Msg(Tversion, 0xffff).u32(4096).str("9P2000.L"));
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  EXPECT_EQ(write(1, 0, std::string(5000, 'x')).err(), EMSGSIZE);
  // And the server still works.
  walk_ok(1, 2, {});
  EXPECT_EQ(getattr(2).qid.path, lstat_of(root).st_ino);
}

TEST_F(P9, RandomGarbageNeverCrashesTheServer) {
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {});
  uint32_t seed = 12345;
  auto rnd = [&] { return seed = seed * 1103515245 + 12345; };
  const uint8_t types[] = {Tstatfs, Tlopen, Twalk, Treaddir, Tgetattr, Tsetattr, Txattrwalk, Tlock, Tgetlock, Tread, Tclunk, Tattach};
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint8_t> b(7 + rnd() % 40);
    for (auto& x : b) x = static_cast<uint8_t>(rnd() >> 16);
    b[4] = types[rnd() % std::size(types)];
    if (rnd() % 2) b[7] = static_cast<uint8_t>(rnd() % 3);  // often a real fid
    for (size_t k = 8; k < 11 && k < b.size(); ++k) b[k] = 0;
    uint32_t n = static_cast<uint32_t>(b.size());
    std::memcpy(b.data(), &n, 4);
    std::vector<uint8_t> r = srv->handle(b);
    ASSERT_GE(r.size(), 7u);
    uint32_t rn;
    std::memcpy(&rn, r.data(), 4);
    ASSERT_EQ(rn, r.size());
  }
  // Still serving (the garbage may have clunked fid 1: a fresh session).
  ASSERT_EQ(call(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L")).type(), Tversion + 1);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 100, {});
  EXPECT_EQ(getattr(100).qid.path, lstat_of(root).st_ino);
}

TEST_F(P9, FidsAreBoundedAndTheNextOneFailsWithEmfile) {
  constexpr size_t kMax = 300;
  srv = std::make_unique<P9Server>(root, false, kMax);
  ASSERT_EQ(call(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L")).type(), Tversion + 1);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  uint32_t id = 2;
  int err = 0;
  for (; id < kMax + 10; ++id) {
    Reply r = walk(1, id, {});
    if (r.type() != Twalk + 1) {
      err = r.err();
      break;
    }
  }
  EXPECT_EQ(err, EMFILE);
  EXPECT_EQ(srv->fid_count(), kMax);
  EXPECT_EQ(attach(id).err(), EMFILE);
  EXPECT_EQ(call(Msg(Txattrwalk).u32(1).u32(id).str("")).err(), EMFILE);
  walk_ok(1, 1, {});  // rebinding an existing fid needs no new slot
  ASSERT_EQ(clunk(2).type(), Tclunk + 1);  // a clunk frees a slot
  walk_ok(1, id, {});
  EXPECT_EQ(P9Server::kMaxFids, 65536u);  // the default
}

TEST_F(P9, XattrLockAndFlushAnswersTheClientCopesWith) {
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  write_file(host("f"), "");
  walk_ok(1, 2, {"f"});
  Reply list = call(Msg(Txattrwalk).u32(2).u32(3).str(""));
  ASSERT_EQ(list.type(), Txattrwalk + 1);
  EXPECT_EQ(list.u64(), 0u);
  EXPECT_EQ(read(3, 0, 100), "");
  ASSERT_EQ(clunk(3).type(), Tclunk + 1);
  EXPECT_EQ(call(Msg(Txattrwalk).u32(2).u32(3).str("user.x")).err(), ENODATA);
  EXPECT_EQ(clunk(3).err(), EBADF);
  EXPECT_EQ(call(Msg(Txattrcreate).u32(2).str("user.x").u64(1).u32(0)).err(), EOPNOTSUPP);

  // Locks need an open fid.
  EXPECT_EQ(call(Msg(Tlock).u32(2).u8(1).u32(0).u64(0).u64(0).u32(77).str("host")).err(), EBADF);

  Reply fl = call(Msg(Tflush, 9).u16(3));
  EXPECT_EQ(fl.type(), Tflush + 1);
  EXPECT_EQ(fl.tag(), 9);
}

TEST_F(P9, LocksAreRealAndConflictWithHostProcessesAndOtherFids) {
  write_file(host("db"), "0123456789");
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"db"});
  ASSERT_EQ(lopen(2, kRdwr).type(), Tlopen + 1);
  walk_ok(1, 3, {"db"});
  ASSERT_EQ(lopen(3, kRdwr).type(), Tlopen + 1);
  auto lock = [&](uint32_t fid, uint8_t type, uint64_t start, uint64_t len) {
    Reply r = call(Msg(Tlock).u32(fid).u8(type).u32(1).u64(start).u64(len).u32(42).str("guest"));
    EXPECT_EQ(r.type(), Tlock + 1) << r.err();
    return r.u8();  // 0 SUCCESS, 1 BLOCKED, 2 ERROR
  };
  EXPECT_EQ(lock(2, 1, 0, 5), 0) << "write lock on bytes 0-4";
  EXPECT_EQ(lock(3, 1, 2, 1), 1) << "another open file may not take byte 2";
  EXPECT_EQ(lock(3, 1, 5, 0), 0) << "bytes 5.. are free";
  // Tgetlock reports the conflicting lock.
  Reply gl = call(Msg(Tgetlock).u32(3).u8(0).u64(0).u64(1).u32(42).str("guest"));
  ASSERT_EQ(gl.type(), Tgetlock + 1) << gl.err();
  EXPECT_EQ(gl.u8(), 1);  // WRLCK
  EXPECT_EQ(gl.u64(), 0u);
  EXPECT_EQ(gl.u64(), 5u);
  // A host process sees the guest's lock (and the other way round).
  hvrun::UniqueFd hostfd(::open(host("db").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(hostfd);
  struct flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 1;
  fl.l_len = 1;
  EXPECT_EQ(::fcntl(hostfd.get(), F_OFD_GETLK, &fl), 0);
  EXPECT_EQ(fl.l_type, F_WRLCK) << "the host sees the guest's lock";
  EXPECT_EQ(lock(2, 2, 0, 5), 0) << "unlock";
  fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 2;
  ASSERT_EQ(::fcntl(hostfd.get(), F_OFD_SETLK, &fl), 0) << "bytes 0-1 are free again";
  EXPECT_EQ(lock(2, 0, 0, 1), 1) << "the host's lock blocks the guest";
  // A bad type or a range past off_t is an ERROR status, not a crash.
  EXPECT_EQ(lock(2, 9, 0, 1), 2);
  EXPECT_EQ(lock(2, 1, ~0ull, 2), 2);
  // Clunking the fid drops its locks.
  ASSERT_EQ(clunk(3).type(), Tclunk + 1);
  fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 6;
  fl.l_len = 1;
  EXPECT_EQ(::fcntl(hostfd.get(), F_OFD_SETLK, &fl), 0) << "fid 3's lock went with it";
}

TEST_F(P9, LocksBelongToTheGuestProcessNotToTheSharedOpenFile) {
  write_file(host("db"), "0123456789");
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"db"});
  ASSERT_EQ(lopen(2, kRdwr).type(), Tlopen + 1);
  auto lock = [&](uint32_t proc, uint8_t type, uint64_t start, uint64_t len) {
    Reply r = call(Msg(Tlock).u32(2).u8(type).u32(0).u64(start).u64(len).u32(proc).str("guest"));
    EXPECT_EQ(r.type(), Tlock + 1) << r.err();
    return r.u8();  // 0 SUCCESS, 1 BLOCKED
  };
  hvrun::UniqueFd hostfd(::open(host("db").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(hostfd);
  auto host_can_lock = [&] {
    struct flock fl{};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 5;
    EXPECT_EQ(::fcntl(hostfd.get(), F_OFD_GETLK, &fl), 0);
    return fl.l_type == F_UNLCK;
  };
  // Process 100 locks through the fid it shares with its child, 101.
  EXPECT_EQ(lock(100, 1, 0, 5), 0);
  EXPECT_EQ(lock(100, 1, 2, 2), 0) << "a process does not conflict with itself";
  // The child exits: its close sends a whole-file unlock for its own pid.
  EXPECT_EQ(lock(101, 2, 0, 0), 0);
  EXPECT_FALSE(host_can_lock()) << "the parent's lock must survive its child's close";
  EXPECT_EQ(lock(101, 1, 0, 1), 1) << "another process conflicts with it";
  // The parent's own close releases it.
  EXPECT_EQ(lock(100, 2, 0, 0), 0);
  EXPECT_TRUE(host_can_lock());
}

TEST(P9Server, ConstructorRejectsMissingRootAndNonDirectory) {
  TempDir d;
  write_file(d.path + "/file", "");
  EXPECT_THROW(P9Server(d.path + "/missing", false), hvrun::Error);
  try {
    P9Server s(d.path + "/file", false);
    ADD_FAILURE() << "a file was accepted as a share";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find(d.path + "/file"), std::string::npos) << e.what();
  }
}

}  // namespace
