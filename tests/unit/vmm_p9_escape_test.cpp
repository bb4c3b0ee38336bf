// The 9p share escape (docs/security.md "CVE regression tests"): a host-side
// attacker (another process with the shared directory, e.g. a container
// that has it as a volume) swaps a path component for a symlink to outside
// the share between the guest's walk and its open/create/readdir. Every
// operation must stay inside the share: the server holds each fid as an
// O_PATH fd of the inode it walked to and resolves paths with openat2
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (vmm/p9_fids.hpp).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/p9_test_util.hpp"
#include "vmm/p9_server.hpp"

using namespace hvrun::vmm;
using namespace hvrun::vmm::p9test;

namespace {

constexpr uint8_t kQidSymlink = 0x02, kQidDir = 0x80;

class P9Escape : public ::testing::Test {
 protected:
  TempDir share, outside;
  std::unique_ptr<P9Server> srv;
  std::map<std::string, std::string> outside_before;

  void SetUp() override {
    write_file(outside.path + "/secret", "OUTSIDE-SECRET");
    write_file(outside.path + "/file", "OUTSIDE-FILE");
    ASSERT_EQ(::mkdir((outside.path + "/sub").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((share.path + "/dir").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((share.path + "/dir/sub").c_str(), 0755), 0);
    write_file(share.path + "/dir/file", "inside");
    outside_before = snapshot(outside.path);
    srv = std::make_unique<P9Server>(share.path, false);
    ASSERT_EQ(call(Msg(Tversion, 0xffff).u32(65536).str("9P2000.L")).type(), Tversion + 1);
    ASSERT_EQ(call(Msg(Tattach).u32(1).u32(kNoFid).str("root").str("").u32(0)).type(), Tattach + 1);
  }

  Reply call(const Msg& m) { return Reply(srv->handle(m.bytes())); }
  Reply walk(uint32_t fid, uint32_t newfid, const std::vector<std::string>& names) {
    Msg m(Twalk);
    m.u32(fid).u32(newfid).u16(static_cast<uint16_t>(names.size()));
    for (const auto& n : names) m.str(n);
    return call(m);
  }
  // True when every name walked (newfid bound); the last qid's type in `type`.
  bool walked(uint32_t fid, uint32_t newfid, const std::vector<std::string>& names, uint8_t* type = nullptr) {
    Reply r = walk(fid, newfid, names);
    if (r.type() != Twalk + 1) return false;
    uint16_t n = r.u16();
    Qid q;
    for (uint16_t i = 0; i < n; ++i) q = r.qid();
    if (type) *type = q.type;
    return n == names.size();
  }
  Reply lopen(uint32_t fid, uint32_t flags) { return call(Msg(Tlopen).u32(fid).u32(flags)); }
  Reply lcreate(uint32_t fid, const std::string& name, uint32_t flags) {
    return call(Msg(Tlcreate).u32(fid).str(name).u32(flags).u32(0644).u32(0));
  }
  Reply mkdir(uint32_t fid, const std::string& name) { return call(Msg(Tmkdir).u32(fid).str(name).u32(0755).u32(0)); }
  Reply write(uint32_t fid, const std::string& data) {
    return call(Msg(Twrite).u32(fid).u64(0).u32(static_cast<uint32_t>(data.size())).raw(std::vector<uint8_t>(data.begin(), data.end())));
  }
  // Rread data; "" on error.
  std::string read(uint32_t fid) {
    Reply r = call(Msg(Tread).u32(fid).u64(0).u32(4096));
    if (r.type() != Tread + 1) return "";
    r.u32();
    std::vector<uint8_t> d = r.rest();
    return std::string(d.begin(), d.end());
  }
  // The names of a Treaddir reply ("" entries on error: none).
  std::vector<std::string> readdir(uint32_t fid) {
    Reply r = call(Msg(Treaddir).u32(fid).u64(0).u32(8192));
    std::vector<std::string> out;
    if (r.type() != Treaddir + 1) return out;
    r.u32();
    while (!r.at_end()) {
      r.qid();
      r.u64();
      r.u8();
      out.push_back(r.str());
    }
    return out;
  }
  void clunk(uint32_t fid) { call(Msg(Tclunk).u32(fid)); }

  void expect_outside_untouched() {
    EXPECT_EQ(snapshot(outside.path), outside_before);
    EXPECT_EQ(read_file(outside.path + "/secret"), "OUTSIDE-SECRET");
  }
};

// Fids walked to share/dir, share/dir/file and share/dir/sub; then the
// attacker moves dir aside and puts a symlink to the outside directory in
// its place. Every later operation through those fids, and every new walk
// through the link, stays in the share.
TEST_F(P9Escape, SymlinkSwappedBetweenWalkAndOpenStaysInsideTheShare) {
  ASSERT_TRUE(walked(1, 2, {"dir"}));
  ASSERT_TRUE(walked(1, 3, {"dir", "file"}));
  ASSERT_TRUE(walked(1, 4, {"dir", "sub"}));
  ASSERT_TRUE(walked(1, 5, {"dir"}));
  ASSERT_TRUE(walked(1, 6, {"dir", "file"}));
  ASSERT_TRUE(walked(1, 11, {"dir"}));
  // The swap: share/dir -> share/dir.moved, share/dir = symlink to outside.
  ASSERT_EQ(::rename((share.path + "/dir").c_str(), (share.path + "/dir.moved").c_str()), 0);
  ASSERT_EQ(::symlink(outside.path.c_str(), (share.path + "/dir").c_str()), 0);
  // ...and the file's name too, for the fids walked to it.
  ASSERT_EQ(::rename((share.path + "/dir.moved/file").c_str(), (share.path + "/dir.moved/file.moved").c_str()), 0);
  ASSERT_EQ(::symlink((outside.path + "/file").c_str(), (share.path + "/dir.moved/file").c_str()), 0);

  // Open + write through the file fid: the file walked to, never the link's target.
  ASSERT_EQ(lopen(3, kRdwr | kTrunc).type(), Tlopen + 1);
  EXPECT_EQ(read(3), "");
  ASSERT_EQ(write(3, "written-by-guest").type(), Twrite + 1);
  EXPECT_EQ(read_file(share.path + "/dir.moved/file.moved"), "written-by-guest");
  // Create and mkdir through the directory fid: in the directory walked to.
  ASSERT_EQ(lcreate(2, "planted", kRdwr).type(), Tlcreate + 1);
  ASSERT_EQ(write(2, "p").type(), Twrite + 1);
  EXPECT_EQ(read_file(share.path + "/dir.moved/planted"), "p");
  ASSERT_EQ(mkdir(4, "planted-dir").type(), Tmkdir + 1);
  EXPECT_TRUE(std::filesystem::is_directory(share.path + "/dir.moved/sub/planted-dir"));
  // Readdir through the directory fid lists the walked directory.
  ASSERT_EQ(lopen(5, kRdonly | kDirectory).type(), Tlopen + 1);
  std::vector<std::string> names = readdir(5);
  EXPECT_NE(std::find(names.begin(), names.end(), "file.moved"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "secret"), names.end()) << "listed the outside directory";
  // A walk from the stale directory fid finds only what is in it.
  EXPECT_EQ(walk(11, 7, {"secret"}).err(), ENOENT);
  // A fresh walk stops at the link (one qid, a symlink, newfid not bound).
  uint8_t type = 0;
  EXPECT_FALSE(walked(1, 8, {"dir", "secret"}, &type));
  EXPECT_EQ(type, kQidSymlink);
  EXPECT_EQ(call(Msg(Tclunk).u32(8)).err(), EBADF);
  // ".." from sub re-resolves its parent path by name: now a link, refused.
  EXPECT_NE(walk(4, 9, {".."}).err(), 0);
  EXPECT_EQ(call(Msg(Tclunk).u32(9)).err(), EBADF);
  // Tremove and Tunlinkat of the (now linked) path reach nothing outside.
  EXPECT_NE(call(Msg(Tremove).u32(6)).err(), 0);
  EXPECT_NE(call(Msg(Tunlinkat).u32(11).str("secret").u32(0)).err(), 0);
  EXPECT_NE(call(Msg(Trenameat).u32(11).str("secret").u32(1).str("stolen")).err(), 0);
  // Tsetattr truncating through the stale file fid: the walked inode.
  ASSERT_TRUE(walked(3, 10, {}));
  EXPECT_EQ(call(Msg(Tsetattr).u32(10).u32(0x8).u32(0).u32(0).u32(0).u64(1).u64(0).u64(0).u64(0).u64(0)).type(), Tsetattr + 1);
  EXPECT_EQ(read_file(share.path + "/dir.moved/file.moved"), "w");

  expect_outside_untouched();
  EXPECT_FALSE(std::filesystem::exists(outside.path + "/planted"));
  EXPECT_FALSE(std::filesystem::exists(outside.path + "/sub/planted-dir"));
}

// A host thread swaps share/dir between the real directory and a symlink to
// the outside directory (renameat2 RENAME_EXCHANGE, as fast as it can) while
// the guest, 2000 times, walks to dir and dir/file and reads, truncates,
// creates, lists. Both states must have been seen (the race ran), and no
// attempt read, listed or changed anything outside.
TEST_F(P9Escape, ConcurrentSymlinkSwapNeverReachesOutsideIn2000Attempts) {
  ASSERT_EQ(::symlink(outside.path.c_str(), (share.path + "/dir-link").c_str()), 0);
  std::atomic<bool> stop{false};
  std::atomic<long> swaps{0};
  std::thread attacker([&] {
    const std::string a = share.path + "/dir", b = share.path + "/dir-link";
    while (!stop.load(std::memory_order_relaxed))
      if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) ++swaps;
  });
  int saw_link = 0, saw_dir = 0, reached_outside = 0;
  for (int i = 0; i < 2000; ++i) {
    uint8_t type = 0;
    if (walked(1, 20, {"dir"}, &type)) {
      (type == kQidSymlink ? saw_link : saw_dir)++;
      // Create through the walked fid, then list it.
      if (lcreate(20, "planted-" + std::to_string(i % 8), kRdwr).type() == Tlcreate + 1) write(20, "p");
      clunk(20);
    } else if (type == kQidSymlink) {
      ++saw_link;
    }
    if (walked(1, 21, {"dir"}) && lopen(21, kRdonly | kDirectory).type() == Tlopen + 1)
      for (const std::string& n : readdir(21))
        if (n == "secret") ++reached_outside;
    clunk(21);
    if (walked(1, 22, {"dir", "file"}) && lopen(22, kRdwr | kTrunc).type() == Tlopen + 1) {
      if (read(22).find("OUTSIDE") != std::string::npos) ++reached_outside;
      write(22, "inside");
    }
    clunk(22);
    if (walked(1, 23, {"dir", "secret"})) ++reached_outside;
    clunk(23);
  }
  stop = true;
  attacker.join();
  EXPECT_GT(swaps.load(), 0);
  EXPECT_GT(saw_link, 0) << "the race never showed the link: the test proved nothing";
  EXPECT_GT(saw_dir, 0);
  EXPECT_EQ(reached_outside, 0);
  expect_outside_untouched();
}

}  // namespace
