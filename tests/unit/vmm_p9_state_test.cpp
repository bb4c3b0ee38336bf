// P9Server snapshots: a session saved by one server and restored into a new
// one on the same share goes on with the same fids (by path, reopened as
// they were opened); what cannot be restored is named; a hostile blob is an
// Error that binds nothing and never opens outside the share.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/p9_test_util.hpp"
#include "util/error.hpp"
#include "vmm/p9_server.hpp"
#include "vmm/state_codec.hpp"

using namespace hvrun::vmm;
using namespace hvrun::vmm::p9test;

namespace {

class P9State : public ::testing::Test {
 protected:
  TempDir dir;
  std::string root = dir.path;

  static Reply call(P9Server& s, const Msg& m) { return Reply(s.handle(m.bytes())); }
  std::unique_ptr<P9Server> session(bool readonly = false) {
    auto s = std::make_unique<P9Server>(root, readonly);
    EXPECT_EQ(call(*s, Msg(Tversion, 0xffff).u32(65536).str("9P2000.L")).type(), Tversion + 1);
    EXPECT_EQ(call(*s, Msg(Tattach).u32(1).u32(kNoFid).str("root").str("").u32(1000)).type(), Tattach + 1);
    return s;
  }
  static void walk(P9Server& s, uint32_t fid, uint32_t newfid, const std::vector<std::string>& names) {
    Msg m(Twalk);
    m.u32(fid).u32(newfid).u16(uint16_t(names.size()));
    for (const auto& n : names) m.str(n);
    Reply r = call(s, m);
    ASSERT_EQ(r.type(), Twalk + 1) << r.err();
  }
  static std::string read(P9Server& s, uint32_t fid, uint64_t off) {
    Reply r = call(s, Msg(Tread).u32(fid).u64(off).u32(4096));
    if (r.type() != Tread + 1) return "error " + std::to_string(r.err());
    r.u32();
    auto d = r.rest();
    return std::string(d.begin(), d.end());
  }
  static int write(P9Server& s, uint32_t fid, uint64_t off, const std::string& data) {
    Reply r = call(s, Msg(Twrite).u32(fid).u64(off).u32(uint32_t(data.size())).raw(std::vector<uint8_t>(data.begin(), data.end())));
    return r.type() == Twrite + 1 ? 0 : int(r.err());
  }
  std::string host(const std::string& rel) const {
    std::ifstream f(root + "/" + rel);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  void put(const std::string& rel, const std::string& data) const { std::ofstream(root + "/" + rel) << data; }
};

TEST_F(P9State, ARestoredSessionGoesOnWithItsFidsOpenAsTheyWere) {
  ::mkdir((root + "/d").c_str(), 0755);
  put("d/log", "one\n");
  put("gone", "x");
  auto a = session();
  walk(*a, 1, 2, {"d", "log"});
  ASSERT_EQ(call(*a, Msg(Tlopen).u32(2).u32(kWronly | kAppend)).type(), Tlopen + 1);
  walk(*a, 1, 3, {"d"});
  ASSERT_EQ(call(*a, Msg(Tlcreate).u32(3).str("new").u32(kRdwr | kTrunc).u32(0640).u32(0)).type(), Tlcreate + 1);
  ASSERT_EQ(write(*a, 3, 0, "made before"), 0);
  walk(*a, 1, 4, {"gone"});
  ASSERT_EQ(call(*a, Msg(Tlopen).u32(4).u32(kRdonly)).type(), Tlopen + 1);
  walk(*a, 1, 5, {"d"});  // a directory fid, not open
  const std::string blob = a->save_state();
  EXPECT_EQ(a->save_state(), blob) << "the same session saves the same bytes";
  a.reset();

  ::unlink((root + "/gone").c_str());  // removed while the snapshot was on disk
  P9Server b(root, false);
  const std::vector<std::string> lost = b.restore_state(blob);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_NE(lost[0].find("fid 4 (/gone)"), std::string::npos) << lost[0];
  EXPECT_EQ(b.fid_count(), 4u);
  EXPECT_EQ(b.msize(), 65536u);
  // fid 2 appends as it did; fid 3 reads and writes without truncating again.
  ASSERT_EQ(write(b, 2, 0, "two\n"), 0);
  EXPECT_EQ(host("d/log"), "one\ntwo\n");
  EXPECT_EQ(read(b, 3, 0), "made before");
  ASSERT_EQ(write(b, 3, 11, ", and after"), 0);
  EXPECT_EQ(host("d/new"), "made before, and after");
  EXPECT_EQ(read(b, 4, 0), "error " + std::to_string(EBADF)) << "the lost fid is unbound";
  walk(b, 5, 6, {"log"});  // walks on from a restored fid, and from the root
  walk(b, 1, 7, {"d", "new"});
  EXPECT_EQ(b.fid_count(), 6u);
}

TEST_F(P9State, ARestoreOnAReadOnlyShareDoesNotReopenForWriting) {
  put("f", "data");
  auto a = session();
  walk(*a, 1, 2, {"f"});
  ASSERT_EQ(call(*a, Msg(Tlopen).u32(2).u32(kRdwr)).type(), Tlopen + 1);
  walk(*a, 1, 3, {"f"});
  ASSERT_EQ(call(*a, Msg(Tlopen).u32(3).u32(kRdonly)).type(), Tlopen + 1);
  const std::string blob = a->save_state();
  P9Server ro(root, true);
  const auto lost = ro.restore_state(blob);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_NE(lost[0].find("fid 2 (/f)"), std::string::npos) << lost[0];
  EXPECT_EQ(read(ro, 3, 0), "data");
}

// A blob with one fid whose path is `rel`, as P9FidTable::save writes it.
std::string one_fid_blob(const std::string& rel, bool open, uint32_t flags) {
  StateOut fids("9FID", 1);
  fids.u32(1);
  fids.u32(9);
  fids.str(rel);
  fids.u32(0);
  fids.u8(0);
  fids.u8(open ? 1 : 0);
  fids.u32(flags);
  fids.u32(0);
  StateOut s("P9SN", 1);
  s.u8(1);
  s.u32(65536);
  s.str(fids.take());
  return s.take();
}

TEST_F(P9State, AHostileBlobNeverReachesOutsideTheShareNorBindsHalfOfIt) {
  ::symlink("/etc", (root + "/link").c_str());
  P9Server s(root, false);
  for (const std::string& rel : std::vector<std::string>{"../etc/passwd", "/etc/passwd", "a//b", "a/./b", "a/", std::string("a\0b", 3)})
    EXPECT_THROW(s.restore_state(one_fid_blob(rel, true, O_RDONLY)), hvrun::Error) << rel;
  // Through a symlink: not bound (the lost list says why), nothing opened.
  auto lost = s.restore_state(one_fid_blob("link/passwd", true, O_RDONLY));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(s.fid_count(), 0u);
  // O_CREAT, O_TRUNC from a blob are never honoured.
  put("keep", "contents");
  lost = s.restore_state(one_fid_blob("keep", true, O_RDWR | O_TRUNC | O_CREAT));
  EXPECT_TRUE(lost.empty());
  EXPECT_EQ(host("keep"), "contents");
  lost = s.restore_state(one_fid_blob("nothere", true, O_RDWR | O_CREAT));
  EXPECT_EQ(lost.size(), 1u);
  EXPECT_NE(::access((root + "/nothere").c_str(), F_OK), 0);
  // A bad msize, and a truncated blob: errors, nothing bound.
  std::string bad = one_fid_blob("keep", false, 0);
  EXPECT_THROW(s.restore_state(bad.substr(0, bad.size() - 3)), hvrun::Error);
  EXPECT_EQ(s.fid_count(), 0u);
  StateOut m("P9SN", 1);
  m.u8(1);
  m.u32(1 << 30);
  m.str(StateOut("9FID", 1).take());
  EXPECT_THROW(s.restore_state(m.take()), hvrun::Error);
}

}  // namespace
