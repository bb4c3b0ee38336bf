// Shared by the 9p tests (vmm_p9_server_test.cpp, vmm_p9_virtio_test.cpp,
// vmm_p9_linux_client_test.cpp): a 9P2000.L message encoder (Msg) and reply
// decoder (Reply), a temporary share and host-side file helpers.
#pragma once
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace hvrun::vmm::p9test {

namespace fs = std::filesystem;


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

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
inline struct stat lstat_of(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

// Everything below a directory: relative path -> type, mode, size, owner,
// link target, content. Equal snapshots = nothing changed.
inline std::map<std::string, std::string> snapshot(const std::string& root) {
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

}  // namespace hvrun::vmm::p9test
