// The 9P2000.L wire format as the VMM's 9p server and the virtio-9p device
// see it: message types, the little-endian Reader/Writer, and the Rlerror
// every failure becomes. A reader running past its message, like any other
// request failure, throws P9Errno (fail()), which handle() turns into an
// Rlerror carrying that errno.
#pragma once
#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace hvrun::vmm::p9 {

// 9P2000.L message types (T = request; the reply is T + 1).
enum : uint8_t {
  kTlerror = 6, kRlerror = 7,
  kTstatfs = 8, kTlopen = 12, kTlcreate = 14, kTsymlink = 16, kTmknod = 18, kTrename = 20,
  kTreadlink = 22, kTgetattr = 24, kTsetattr = 26, kTxattrwalk = 30, kTxattrcreate = 32,
  kTreaddir = 40, kTfsync = 50, kTlock = 52, kTgetlock = 54, kTlink = 70, kTmkdir = 72,
  kTrenameat = 74, kTunlinkat = 76, kTversion = 100, kTauth = 102, kTattach = 104,
  kTflush = 108, kTwalk = 110, kTread = 116, kTwrite = 118, kTclunk = 120, kTremove = 122,
};

constexpr uint16_t kNoTag = 0xffff;
constexpr uint32_t kNoFid = 0xffffffff;
constexpr size_t kHeader = 7;       // size[4] type[1] tag[2]
constexpr size_t kIoHeader = 11;    // header + count[4] (Rread, Rreaddir)

// Tsetattr valid bits.
constexpr uint32_t kSetMode = 0x1, kSetUid = 0x2, kSetGid = 0x4, kSetSize = 0x8, kSetAtime = 0x10,
                   kSetMtime = 0x20, kSetAtimeSet = 0x80, kSetMtimeSet = 0x100;

// Tlopen/Tlcreate flag (P9_DOTL_TRUNC): the open truncates the file.
constexpr uint32_t kDotlTrunc = 01000;

// Qid types.
constexpr uint8_t kQtDir = 0x80, kQtSymlink = 0x02, kQtFile = 0;

// A failure that becomes an Rlerror carrying this errno.
struct P9Errno {
  int err;
};

[[noreturn]] inline void fail(int err) { throw P9Errno{err}; }
[[noreturn]] inline void fail_errno() { fail(errno ? errno : EIO); }
template <typename T>
T check(T rc) {
  if (rc < 0) fail_errno();
  return rc;
}

// Little-endian reader over one T-message; any read past the end is EPROTO.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  std::string_view str() {
    size_t n = u16();
    need(n);
    std::string_view s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  std::span<const uint8_t> bytes(size_t n) {
    need(n);
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  void need(size_t n) const {
    if (n > b_.size() - pos_) fail(EPROTO);
  }
  uint64_t le(size_t n) {
    need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{b_[pos_ + i]} << (8 * i);
    pos_ += n;
    return v;
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

// Builds one R-message; finish() fills in size[4].
class Writer {
 public:
  Writer(uint8_t type, uint16_t tag) {
    out_.reserve(64);
    u32(0);
    u8(type);
    u16(tag);
  }
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void str(std::string_view s) {
    if (s.size() > 0xffff) fail(ENAMETOOLONG);
    u16(static_cast<uint16_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void qid(const struct stat& st) {
    u8(S_ISDIR(st.st_mode) ? kQtDir : S_ISLNK(st.st_mode) ? kQtSymlink : kQtFile);
    u32(0);
    u64(st.st_ino);
  }
  std::vector<uint8_t>& buf() { return out_; }
  std::vector<uint8_t> finish() {
    uint32_t n = static_cast<uint32_t>(out_.size());
    for (int i = 0; i < 4; ++i) out_[i] = static_cast<uint8_t>(n >> (8 * i));
    return std::move(out_);
  }

 private:
  void le(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> out_;
};

inline std::vector<uint8_t> lerror(uint16_t tag, int err) {
  Writer w(kRlerror, tag);
  w.u32(static_cast<uint32_t>(err));
  return w.finish();
}

}  // namespace hvrun::vmm::p9
