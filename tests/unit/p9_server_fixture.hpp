// The fixture of the P9Server tests (vmm_p9_server_test.cpp: sessions,
// files, locks, malformed messages; vmm_p9_tree_test.cpp: the directory
// tree; vmm_p9_confinement_test.cpp: escapes and read-only shares): a
// server on a temp directory, driven with encoded messages.
#pragma once
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

namespace hvrun::vmm::p9test {

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

}  // namespace hvrun::vmm::p9test
