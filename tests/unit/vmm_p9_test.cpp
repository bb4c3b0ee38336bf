// P9Server (9P2000.L) driven with encoded messages on a temp directory, and
// Virtio9p through MmioTransport. The client is treated as hostile: escapes
// from the share, malformed messages and readonly violations must all end
// in an Rlerror and leave the host untouched.
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

#include "tests/unit/virtio_test_driver.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/p9_server.hpp"
#include "vmm/virtio_9p.hpp"
#include "vmm/virtio_mmio.hpp"

using namespace hvrun::vmm;
namespace fs = std::filesystem;

namespace {

enum : uint8_t {
  Rlerror = 7, Tstatfs = 8, Tlopen = 12, Tlcreate = 14, Tsymlink = 16, Tmknod = 18, Trename = 20,
  Treadlink = 22, Tgetattr = 24, Tsetattr = 26, Txattrwalk = 30, Txattrcreate = 32, Treaddir = 40,
  Tfsync = 50, Tlock = 52, Tgetlock = 54, Tlink = 70, Tmkdir = 72, Trenameat = 74, Tunlinkat = 76,
  Tversion = 100, Tauth = 102, Tattach = 104, Tflush = 108, Twalk = 110, Tread = 116, Twrite = 118,
  Tclunk = 120, Tremove = 122,
};
constexpr uint32_t kNoFid = 0xffffffff;
constexpr uint32_t kRdonly = 0, kWronly = 1, kRdwr = 2, kTrunc = 01000, kAppend = 02000, kExcl = 0200, kDirectory = 0200000;

// Encodes one T-message.
class Msg {
 public:
  explicit Msg(uint8_t type, uint16_t tag = 7) {
    u32(0);
    u8(type);
    u16(tag);
  }
  Msg& u8(uint8_t v) { return le(v, 1); }
  Msg& u16(uint16_t v) { return le(v, 2); }
  Msg& u32(uint32_t v) { return le(v, 4); }
  Msg& u64(uint64_t v) { return le(v, 8); }
  Msg& str(std::string_view s) {
    u16(static_cast<uint16_t>(s.size()));
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  Msg& raw(const std::vector<uint8_t>& d) {
    b_.insert(b_.end(), d.begin(), d.end());
    return *this;
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> b = b_;
    uint32_t n = static_cast<uint32_t>(b.size());
    std::memcpy(b.data(), &n, 4);
    return b;
  }

 private:
  Msg& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  std::vector<uint8_t> b_;
};

struct Qid {
  uint8_t type = 0xff;
  uint32_t version = 0;
  uint64_t path = 0;
};

// Decodes one R-message; reads past the end fail the test and return 0.
class Reply {
 public:
  explicit Reply(std::vector<uint8_t> b) : b_(std::move(b)) {
    EXPECT_GE(b_.size(), 7u);
    if (b_.size() >= 4) {
      uint32_t n;
      std::memcpy(&n, b_.data(), 4);
      EXPECT_EQ(n, b_.size()) << "size[4] of the reply";
    }
  }
  uint8_t type() const { return b_.size() > 4 ? b_[4] : 0; }
  uint16_t tag() const { return b_.size() > 6 ? static_cast<uint16_t>(b_[5] | b_[6] << 8) : 0; }
  // The Rlerror errno, 0 for any other reply.
  int err() const {
    if (type() != Rlerror || b_.size() != 11) return 0;
    uint32_t e;
    std::memcpy(&e, &b_[7], 4);
    return static_cast<int>(e);
  }
  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  std::string str() {
    size_t n = u16();
    if (pos_ + n > b_.size()) {
      ADD_FAILURE() << "string past the end of the reply";
      return {};
    }
    std::string s(reinterpret_cast<const char*>(&b_[pos_]), n);
    pos_ += n;
    return s;
  }
  Qid qid() {
    Qid q;
    q.type = u8();
    q.version = u32();
    q.path = u64();
    return q;
  }
  std::vector<uint8_t> rest() {
    std::vector<uint8_t> r(b_.begin() + static_cast<long>(pos_), b_.end());
    pos_ = b_.size();
    return r;
  }
  bool at_end() const { return pos_ == b_.size(); }
  size_t size() const { return b_.size(); }

 private:
  uint64_t le(size_t n) {
    if (pos_ + n > b_.size()) {
      ADD_FAILURE() << "read past the end of the reply";
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{b_[pos_ + i]} << (8 * i);
    pos_ += n;
    return v;
  }
  std::vector<uint8_t> b_;
  size_t pos_ = 7;
};

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/hvrun-p9-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
struct stat lstat_of(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

// Everything below a directory: relative path -> type, mode, size, owner,
// link target, content. Equal snapshots = nothing changed.
std::map<std::string, std::string> snapshot(const std::string& root) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    struct stat st = lstat_of(e.path());
    std::ostringstream d;
    d << st.st_mode << ' ' << st.st_size << ' ' << st.st_uid << ':' << st.st_gid << ' ' << st.st_nlink << ' ' << st.st_mtim.tv_sec << '.'
      << st.st_mtim.tv_nsec;
    if (S_ISLNK(st.st_mode)) d << " -> " << fs::read_symlink(e.path()).string();
    if (S_ISREG(st.st_mode)) d << " = " << read_file(e.path());
    m[fs::relative(e.path(), root).string()] = d.str();
  }
  return m;
}

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

// --- the real Linux 9p client ------------------------------------------------
// The kernel's v9fs client mounts the server over a socketpair (trans=fd)
// and the shell workload `hvrun --vm -v DIR:/ctr` must support runs on it.
// Needs a kernel with 9p (the nested test host has it: run with
// scripts/vmhost build/tests/unit/hvrun_unit_tests --gtest_filter='P9LinuxClient*').

bool kernel_has_9p() {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line))
    if (line.size() >= 3 && line.compare(line.size() - 3, 3, "\t9p") == 0) return true;
  return false;
}

bool read_exact(int fd, uint8_t* p, size_t n) {
  while (n) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Serves 9P on a stream socket until the client goes away.
void serve(P9Server& srv, int fd) {
  std::vector<uint8_t> req;
  for (;;) {
    uint8_t hdr[4];
    if (!read_exact(fd, hdr, 4)) return;
    uint32_t n;
    std::memcpy(&n, hdr, 4);
    if (n < 4 || n > P9Server::kMaxMsize) return;
    req.assign(hdr, hdr + 4);
    req.resize(n);
    if (!read_exact(fd, req.data() + 4, n - 4)) return;
    std::vector<uint8_t> reply = srv.handle(req);
    if (!hvrun::write_all(fd, reply.data(), reply.size())) return;
  }
}

int sh(const std::string& script) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-ec", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

class P9LinuxClient : public ::testing::Test {
 protected:
  TempDir share, mnt;
  std::unique_ptr<P9Server> srv;
  hvrun::UniqueFd ours, theirs;
  std::thread server;
  bool mounted = false;

  void SetUp() override {
    if (!kernel_has_9p()) GTEST_SKIP() << "this kernel has no 9p client (the nested test host has one: scripts/vmhost)";
  }
  void mount(bool readonly) {
    srv = std::make_unique<P9Server>(share.path, readonly);
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ours.reset(sv[0]);
    theirs.reset(sv[1]);
    server = std::thread(serve, std::ref(*srv), ours.get());
    std::string opts = "trans=fd,rfdno=" + std::to_string(theirs.get()) + ",wfdno=" + std::to_string(theirs.get()) +
                       ",version=9p2000.L,access=client,msize=262144,cache=none";
    ASSERT_EQ(::mount("hvrun9p", mnt.path.c_str(), "9p", 0, opts.c_str()), 0) << opts << ": " << std::strerror(errno);
    mounted = true;
  }
  void TearDown() override {
    if (mounted) ::umount2(mnt.path.c_str(), MNT_DETACH);
    theirs.reset();
    if (server.joinable()) {
      ::shutdown(ours.get(), SHUT_RDWR);
      server.join();
    }
  }
  std::string in_share(const std::string& rel) const { return share.path + "/" + rel; }
};

TEST_F(P9LinuxClient, ShellWorkloadOnTheMountLandsOnTheHost) {
  mount(false);
  std::string m = mnt.path;
  // Everything a workload on a bind mount does, checked inside as it goes.
  std::string script = "cd " + m + R"SH(
    echo hello > a.txt
    echo more >> a.txt
    test "$(cat a.txt)" = "$(printf 'hello\nmore')"
    mkdir -p d1/d2/d3
    echo deep > d1/d2/d3/f
    ls -la d1/d2/d3 | grep -q ' f$'
    mv a.txt d1/b.txt
    test ! -e a.txt
    ln -s b.txt d1/sl
    test "$(readlink d1/sl)" = b.txt
    test "$(head -1 d1/sl)" = hello
    ln d1/b.txt hard
    test "$(stat -c %h hard)" = 2
    chmod 640 hard
    chown 1234:5678 hard
    touch -d @1000000 hard
    test "$(stat -c '%a %u %g %Y' hard)" = "640 1234 5678 1000000"
    touch stamped && touch -m -d @2000000 stamped
    df . > /dev/null
    truncate -s 3 d1/b.txt
    test "$(cat d1/b.txt)" = hel
    find . | sort > /tmp/p9-find.txt
    grep -qx './d1/d2/d3/f' /tmp/p9-find.txt
    cp -a d1 d1copy
    test "$(readlink d1copy/sl)" = b.txt
    rm -rf d1copy
    test ! -e d1copy
    exec 3> redir.txt; echo one >&3; echo two >&3; exec 3>&-
    test "$(wc -l < redir.txt)" = 2
    mkdir untar
    (mkdir -p /tmp/p9-tar/t/sub && echo tarred > /tmp/p9-tar/t/sub/x && ln -sf x /tmp/p9-tar/t/sub/lx && chmod 751 /tmp/p9-tar/t/sub && cd /tmp/p9-tar && tar cf /tmp/p9-tar.tar t)
    tar -C untar -xpf /tmp/p9-tar.tar
    test "$(cat untar/t/sub/lx)" = tarred
    dd if=/dev/urandom of=/tmp/p9-big bs=64k count=40 2>/dev/null
    cp /tmp/p9-big big
    cmp /tmp/p9-big big
    dd if=/dev/zero of=synced bs=4k count=4 conv=fsync 2>/dev/null
    sync
    mkfifo pipe
    test -p pipe
    for i in $(seq 1 300); do : > many-$i; done
    test "$(ls | grep -c '^many-')" = 300
    rm -f many-*
    mkdir -p rmtree/a/b && touch rmtree/a/b/c rmtree/a/x && rm -rf rmtree
    test ! -e rmtree
    chmod 755 . && mkdir -m 1777 pub
    setpriv --reuid=4321 --regid=8765 --clear-groups sh -c 'echo user > pub/byuser.txt && mkdir pub/userdir'
    if setpriv --reuid=4321 --regid=8765 --clear-groups sh -c 'echo no > hard' 2>/dev/null; then exit 99; fi
    ln -s /etc/hostname abs-link
  )SH";
  ASSERT_EQ(sh(script), 0);

  // And on the host:
  EXPECT_EQ(read_file(in_share("d1/b.txt")), "hel");
  EXPECT_EQ(read_file(in_share("d1/d2/d3/f")), "deep\n");
  EXPECT_EQ(fs::read_symlink(in_share("d1/sl")).string(), "b.txt");
  struct stat st = lstat_of(in_share("hard"));
  EXPECT_EQ(st.st_mode, S_IFREG | 0640u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(lstat_of(in_share("stamped")).st_mtim.tv_sec, 2000000);
  EXPECT_EQ(lstat_of(in_share("untar/t/sub")).st_mode, S_IFDIR | 0751u);
  EXPECT_EQ(read_file(in_share("untar/t/sub/x")), "tarred\n");
  EXPECT_EQ(read_file(in_share("big")), read_file("/tmp/p9-big"));
  EXPECT_EQ(lstat_of(in_share("synced")).st_size, 16384);
  EXPECT_TRUE(S_ISFIFO(lstat_of(in_share("pipe")).st_mode));
  for (const char* rel : {"pub/byuser.txt", "pub/userdir"}) {
    struct stat bu = lstat_of(in_share(rel));
    EXPECT_EQ(bu.st_uid, 4321u) << rel;  // owner = the uid the client attached as
    EXPECT_EQ(bu.st_gid, 8765u) << rel;
  }
  EXPECT_EQ(read_file(in_share("pub/byuser.txt")), "user\n");
  EXPECT_EQ(fs::read_symlink(in_share("abs-link")).string(), "/etc/hostname");  // stored, never followed here
  EXPECT_FALSE(fs::exists(in_share("d1copy")));
}

TEST_F(P9LinuxClient, FcntlLocksOnTheMountMeetLocksOnTheHostFile) {
  write_file(in_share("lockme"), "0123456789");
  mount(false);
  auto range = [](short type, off_t start, off_t len) {
    struct flock fl{};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    return fl;
  };
  hvrun::UniqueFd hostfd(::open(in_share("lockme").c_str(), O_RDWR | O_CLOEXEC));
  hvrun::UniqueFd mntfd(::open((mnt.path + "/lockme").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(hostfd && mntfd);
  struct flock fl = range(F_WRLCK, 0, 5);
  ASSERT_EQ(::fcntl(hostfd.get(), F_OFD_SETLK, &fl), 0);
  fl = range(F_WRLCK, 2, 1);
  EXPECT_EQ(::fcntl(mntfd.get(), F_SETLK, &fl), -1) << "the host holds bytes 0-4";
  EXPECT_EQ(errno, EAGAIN);
  fl = range(F_WRLCK, 6, 2);
  EXPECT_EQ(::fcntl(mntfd.get(), F_SETLK, &fl), 0) << std::strerror(errno);
  fl = range(F_WRLCK, 7, 1);
  EXPECT_EQ(::fcntl(hostfd.get(), F_OFD_SETLK, &fl), -1) << "the client's lock is on the host file";
  fl = range(F_UNLCK, 0, 0);
  ASSERT_EQ(::fcntl(hostfd.get(), F_OFD_SETLK, &fl), 0);
  fl = range(F_WRLCK, 0, 5);
  EXPECT_EQ(::fcntl(mntfd.get(), F_SETLK, &fl), 0) << "free once the host let go: " << std::strerror(errno);
}

TEST_F(P9LinuxClient, ReadonlyMountRefusesWritesWithErofs) {
  write_file(in_share("f"), "keep");
  ::mkdir(in_share("d").c_str(), 0755);
  auto before = snapshot(share.path);
  mount(true);
  std::string m = mnt.path;
  EXPECT_EQ(sh("cd " + m + " && test \"$(cat f)\" = keep && ls d >/dev/null"), 0);
  for (const char* cmd : {"echo x > f", "echo x >> f", "touch new", "mkdir nd", "rm f", "rmdir d", "mv f g", "ln -s f l", "ln f h",
                          "chmod 777 f", "truncate -s 0 f", "mkfifo p"}) {
    EXPECT_NE(sh("cd " + m + " && { " + cmd + "; } 2>/dev/null"), 0) << cmd;
  }
  EXPECT_EQ(snapshot(share.path), before);
}

// --- Virtio9p through the MMIO transport ------------------------------------

constexpr uint64_t kMem = 1 << 20;
constexpr uint64_t kDesc = 0x1000, kAvail = 0x2000, kUsed = 0x3000, kData = 0x10000;
constexpr uint16_t kQSize = 64;  // room for more chains than Virtio9p::kMaxPending

// The fake driver with the 9p request queue at kDesc/kAvail/kUsed.
struct Driver : hvrun::vmm::test::FakeDriver {
  static constexpr hvrun::vmm::test::RingAt kRing{kDesc, kAvail, kUsed};
  uint16_t avail_idx = 0;
  Driver() : FakeDriver(kMem, kQSize) {}
  void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    put_desc(kDesc, i, addr, len, flags, next);
  }
  void offer(uint16_t head) { put_avail(kRing, avail_idx, head); }
  uint16_t used_idx() const { return FakeDriver::used_idx(kRing); }
  uint32_t used_len(uint16_t i) const { return FakeDriver::used_len(kRing, i); }
};
using hvrun::vmm::test::r32;
using hvrun::vmm::test::w32;


class P9Virtio : public ::testing::Test {
 protected:
  Driver drv;
  TempDir dir;
  int irqs = 0;
  std::unique_ptr<MmioTransport> t;

  void SetUp() override {
    t = std::make_unique<MmioTransport>(std::make_unique<Virtio9p>(dir.path, "hostshare", false), drv.mem, [this] { ++irqs; });
    init();
  }
  // The virtio 1.x init sequence, rings zeroed.
  void init() {
    drv.avail_idx = 0;
    std::memset(&drv.buf[kAvail], 0, 0x1000);
    std::memset(&drv.buf[kUsed], 0, 0x1000);
    w32(*t, mmio::kStatus, 0);
    w32(*t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
    EXPECT_EQ(r32(*t, mmio::kDeviceId), 9u);
    w32(*t, mmio::kDeviceFeaturesSel, 0);
    EXPECT_TRUE(r32(*t, mmio::kDeviceFeatures) & kVirtio9pFMountTag);
    w32(*t, mmio::kDriverFeaturesSel, 0);
    w32(*t, mmio::kDriverFeatures, static_cast<uint32_t>(kVirtio9pFMountTag));
    w32(*t, mmio::kDriverFeaturesSel, 1);
    w32(*t, mmio::kDriverFeatures, 1);  // VERSION_1
    w32(*t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
    ASSERT_TRUE(r32(*t, mmio::kStatus) & kVirtioStatusFeaturesOk);
    w32(*t, mmio::kQueueSel, 0);
    w32(*t, mmio::kQueueNum, kQSize);
    w32(*t, mmio::kQueueDescLow, static_cast<uint32_t>(kDesc));
    w32(*t, mmio::kQueueDriverLow, static_cast<uint32_t>(kAvail));
    w32(*t, mmio::kQueueDeviceLow, static_cast<uint32_t>(kUsed));
    w32(*t, mmio::kQueueReady, 1);
    w32(*t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk | kVirtioStatusDriverOk);
  }
  // Puts `req` at kData as one readable descriptor, then `out` writable
  // descriptors of the given sizes at kData + 0x8000...; notifies.
  void send(const std::vector<uint8_t>& req, const std::vector<uint32_t>& out) {
    std::memcpy(&drv.buf[kData], req.data(), req.size());
    uint16_t i = 0;
    drv.desc(i, kData, static_cast<uint32_t>(req.size()), out.empty() ? 0 : 1, 1);
    uint64_t at = kData + 0x8000;
    for (size_t k = 0; k < out.size(); ++k) {
      ++i;
      drv.desc(i, at, out[k], static_cast<uint16_t>(2 | (k + 1 < out.size() ? 1 : 0)), static_cast<uint16_t>(i + 1));
      at += out[k] + 0x100;
    }
    drv.offer(0);
    w32(*t, mmio::kQueueNotify, 0);
    settle();
  }
  // Does what the VMM's I/O loop does until the driver has every reply (or
  // the device broke): the worker's replies come back through
  // completion_fd() and a kick of queue 0.
  void settle() {
    auto& dev = static_cast<Virtio9p&>(t->device());
    for (int i = 0; i < 1000 && !t->broken() && drv.used_idx() != drv.avail_idx; ++i) {
      pollfd p{dev.completion_fd(), POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) {
        uint64_t v;
        (void)!::read(p.fd, &v, sizeof v);
      }
      t->kick(0);
    }
  }
  // A session with fid 2 open on file f ("abcdefghijklmnopqrstuvwxyz").
  void open_file_as_fid2() {
    write_file(dir.path + "/f", "abcdefghijklmnopqrstuvwxyz");
    send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {4096});
    send(Msg(Tattach, 1).u32(1).u32(kNoFid).str("").str("").u32(0).bytes(), {4096});
    send(Msg(Twalk, 2).u32(1).u32(2).u16(1).str("f").bytes(), {4096});
    send(Msg(Tlopen, 3).u32(2).u32(0).bytes(), {4096});
    ASSERT_EQ(drv.used_idx(), 4);
  }
  // n one-byte Treads of fid 2 (byte k, tag first_tag + k) in n chains of
  // two descriptors (2k, 2k+1), offered together, then one notify. Reply k
  // lands at kData + 0x4000 + 0x400 * k.
  void offer_reads(uint16_t n, uint16_t first_tag) {
    for (uint16_t k = 0; k < n; ++k) {
      std::vector<uint8_t> req = Msg(Tread, static_cast<uint16_t>(first_tag + k)).u32(2).u64(k).u32(1).bytes();
      uint64_t in = kData + 0x100 * k, out = kData + 0x4000 + 0x400 * k;
      std::memcpy(&drv.buf[in], req.data(), req.size());
      drv.desc(static_cast<uint16_t>(2 * k), in, static_cast<uint32_t>(req.size()), 1, static_cast<uint16_t>(2 * k + 1));
      drv.desc(static_cast<uint16_t>(2 * k + 1), out, 0x400, 2);
      drv.offer(static_cast<uint16_t>(2 * k));
    }
    w32(*t, mmio::kQueueNotify, 0);
  }
  std::vector<uint8_t> at(uint64_t addr, size_t n) const {
    return std::vector<uint8_t>(drv.buf.begin() + static_cast<long>(addr), drv.buf.begin() + static_cast<long>(addr + n));
  }
};

TEST(P9VirtioDevice, RejectsBadTagsAndMissingShare) {
  TempDir d;
  EXPECT_THROW(Virtio9p(d.path, "", false), hvrun::Error);
  EXPECT_THROW(Virtio9p(d.path, std::string(32, 'a'), false), hvrun::Error);
  EXPECT_THROW(Virtio9p(d.path, "bad tag", false), hvrun::Error);
  EXPECT_THROW(Virtio9p(d.path, "a/b", false), hvrun::Error);
  EXPECT_THROW(Virtio9p(d.path + "/nope", "ok", false), hvrun::Error);
  EXPECT_NO_THROW(Virtio9p(d.path, std::string(31, 'a'), false));
  EXPECT_NO_THROW(Virtio9p(d.path, "Ab_9-z", true));
}

TEST_F(P9Virtio, ConfigSpaceHoldsTagLengthAndTag) {
  uint8_t cfg[16] = {};
  for (unsigned i = 0; i < sizeof cfg; ++i) t->read(mmio::kConfig + i, &cfg[i], 1);
  EXPECT_EQ(cfg[0] | cfg[1] << 8, 9);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(cfg + 2), 9), "hostshare");
  EXPECT_EQ(cfg[11], 0);  // no NUL needed, bytes past the tag read 0
}

TEST_F(P9Virtio, TversionRoundTripThroughTheQueue) {
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {4096});
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  ASSERT_EQ(drv.used_idx(), 1);
  uint32_t len = drv.used_len(0);
  Reply r(at(kData + 0x8000, len));
  ASSERT_EQ(r.type(), Tversion + 1);
  EXPECT_EQ(r.u32(), 262144u);
  EXPECT_EQ(r.str(), "9P2000.L");
  EXPECT_GT(irqs, 0);
}

TEST_F(P9Virtio, ReplyIsScatteredOverSeveralWritableBuffers) {
  open_file_as_fid2();
  // Like the Linux zero-copy read: an 11-byte header buffer, then data pages.
  send(Msg(Tread, 4).u32(2).u64(0).u32(26).bytes(), {11, 10, 100});
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  ASSERT_EQ(drv.used_idx(), 5);
  EXPECT_EQ(drv.used_len(4), 11u + 26u);
  uint64_t seg1 = kData + 0x8000, seg2 = seg1 + 11 + 0x100, seg3 = seg2 + 10 + 0x100;
  std::vector<uint8_t> hdr = at(seg1, 11);
  EXPECT_EQ(hdr[4], Tread + 1);
  EXPECT_EQ(hdr[7], 26);
  std::vector<uint8_t> a = at(seg2, 10), b = at(seg3, 16);
  EXPECT_EQ(std::string(a.begin(), a.end()) + std::string(b.begin(), b.end()), "abcdefghijklmnopqrstuvwxyz");
}

TEST_F(P9Virtio, ReplyTooBigForTheBufferBecomesRlerrorEmsgsize) {
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {12});  // Rversion needs 21
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  ASSERT_EQ(drv.used_idx(), 1);
  EXPECT_EQ(drv.used_len(0), 11u);
  Reply r(at(kData + 0x8000, 11));
  EXPECT_EQ(r.err(), EMSGSIZE);
  EXPECT_EQ(r.tag(), 0xffff);
  // Not even room for the error: the device breaks.
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {8});
  EXPECT_TRUE(t->broken());
}

TEST_F(P9Virtio, ChainWithoutWritablePartBreaksTheDevice) {
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {});
  EXPECT_TRUE(t->broken());
  EXPECT_NE(t->broken_reason().find("writable"), std::string::npos) << t->broken_reason();
  EXPECT_EQ(drv.used_idx(), 0);
}

TEST_F(P9Virtio, RequestLargerThanMsizeBreaksTheDevice) {
  send(Msg(Tversion, 0xffff).u32(8192).str("9P2000.L").bytes(), {4096});
  ASSERT_FALSE(t->broken());
  std::vector<uint8_t> big = Msg(Twrite, 1).u32(1).u64(0).u32(9000).raw(std::vector<uint8_t>(9000)).bytes();
  send(big, {4096});
  EXPECT_TRUE(t->broken());
  EXPECT_NE(t->broken_reason().find("msize"), std::string::npos) << t->broken_reason();
}

TEST_F(P9Virtio, ManyRequestsAtOnceAreAllAnsweredInOrderAFewAtATime) {
  open_file_as_fid2();
  // 24 Tread in 24 two-descriptor chains, offered together: more than the
  // device takes at once (Virtio9p::kMaxPending); the rest wait on the ring
  // and are taken as the worker's replies come back.
  constexpr uint16_t kN = 24;
  static_assert(kN > Virtio9p::kMaxPending && 2 * kN <= kQSize);
  const uint16_t before = drv.used_idx();
  offer_reads(kN, 100);
  settle();
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  ASSERT_EQ(drv.used_idx(), before + kN);
  for (uint16_t k = 0; k < kN; ++k) {
    uint16_t u = static_cast<uint16_t>(before + k);
    uint32_t head;
    std::memcpy(&head, &drv.buf[kUsed + 4 + 8 * (u % kQSize)], 4);
    EXPECT_EQ(head, 2u * k) << "in order";
    Reply r(at(kData + 0x4000 + 0x400 * k, drv.used_len(u)));
    EXPECT_EQ(r.type(), Tread + 1) << r.err();
    EXPECT_EQ(r.tag(), 100 + k);
    EXPECT_EQ(r.u32(), 1u);
    EXPECT_EQ(r.u8(), 'a' + k) << "byte k of the file";
  }
}

TEST_F(P9Virtio, AResetWithRequestsInFlightNeverAnswersThemAfterwards) {
  open_file_as_fid2();
  offer_reads(8, 200);
  init();  // reset at once: replies may be in the works
  // Whatever the worker finished before the reset must not reach the new rings.
  auto& dev = static_cast<Virtio9p&>(t->device());
  pollfd p{dev.completion_fd(), POLLIN, 0};
  (void)::poll(&p, 1, 200);
  t->kick(0);
  EXPECT_EQ(drv.used_idx(), 0);
  // The new session works, and its first fid is unknown (the old one went).
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {4096});
  send(Msg(Tclunk, 2).u32(1).bytes(), {4096});
  ASSERT_EQ(drv.used_idx(), 2);
  EXPECT_EQ(Reply(at(kData + 0x8000, drv.used_len(1))).err(), EBADF);
}

TEST_F(P9Virtio, DeviceResetDropsTheSession) {
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {4096});
  send(Msg(Tattach, 1).u32(1).u32(kNoFid).str("").str("").u32(0).bytes(), {4096});
  ASSERT_EQ(drv.used_idx(), 2);
  auto& dev = static_cast<Virtio9p&>(t->device());
  EXPECT_EQ(dev.tag(), "hostshare");
  // Reset (Status = 0) and initialise again: the same device, a new session.
  init();
  EXPECT_EQ(&t->device(), &dev);
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {4096});
  send(Msg(Tclunk, 2).u32(1).bytes(), {4096});
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  ASSERT_EQ(drv.used_idx(), 2);
  Reply r(at(kData + 0x8000, drv.used_len(1)));
  EXPECT_EQ(r.err(), EBADF);
}

}  // namespace
