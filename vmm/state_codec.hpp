// The byte layout of the state blobs in a microVM snapshot (vcpu_state,
// vm_state, each device's save_state): a 4-byte tag and a version, then
// little-endian integers and size-prefixed byte strings. StateIn reads a
// blob as hostile input: every read is bounds-checked, and every failure
// throws Error("<what> state in the snapshot is corrupt: <why>").
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace hvrun::vmm {

class StateOut {
 public:
  StateOut(const char tag[4], uint32_t version) {
    out_.append(tag, 4);
    u32(version);
  }
  void u8(uint8_t v) { out_.push_back(char(v)); }
  void u16(uint16_t v) { raw(&v, 2); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  // A size-prefixed byte string (a struct the reader wants exactly as long).
  void bytes(const void* p, size_t n) {
    u32(uint32_t(n));
    raw(p, n);
  }
  void str(std::string_view s) { bytes(s.data(), s.size()); }
  const std::string& blob() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

class StateIn {
 public:
  // Checks the tag and version; `what` names the blob in errors ("vCPU").
  StateIn(std::string_view in, const char tag[4], uint32_t version, std::string what) : in_(in), what_(std::move(what)) {
    if (in.size() < 4 || std::memcmp(in.data(), tag, 4) != 0) fail("not a " + what_ + " state");
    at_ = 4;
    if (uint32_t v = u32("version"); v != version)
      fail("version " + std::to_string(v) + " (this hvrun reads " + std::to_string(version) + ")");
  }
  [[noreturn]] void fail(const std::string& why) const { throw Error(what_ + " state in the snapshot is corrupt: " + why); }
  uint8_t u8(const char* what) { return get<uint8_t>(what); }
  uint16_t u16(const char* what) { return get<uint16_t>(what); }
  uint32_t u32(const char* what) { return get<uint32_t>(what); }
  uint64_t u64(const char* what) { return get<uint64_t>(what); }
  bool flag(const char* what) {
    const uint8_t v = u8(what);
    if (v > 1) fail(std::string(what) + " is " + std::to_string(v) + ", not 0 or 1");
    return v == 1;
  }
  // Exactly n bytes (a KVM struct: another size is another kernel's layout).
  void bytes(void* p, size_t n, const char* what) {
    const uint32_t len = u32(what);
    if (len != n) fail(std::string(what) + " is " + std::to_string(len) + " bytes; this host's KVM uses " + std::to_string(n));
    if (left() < n) fail(std::string("truncated in ") + what);
    std::memcpy(p, in_.data() + at_, n);
    at_ += n;
  }
  // At most `max` bytes.
  std::string str(const char* what, size_t max) {
    const uint32_t len = u32(what);
    if (len > max) fail(std::string(what) + " is " + std::to_string(len) + " bytes (at most " + std::to_string(max) + ")");
    if (left() < len) fail(std::string("truncated in ") + what);
    std::string s(in_.data() + at_, len);
    at_ += len;
    return s;
  }
  size_t left() const { return in_.size() - at_; }
  // Nothing may follow the last field.
  void end() const {
    if (left() != 0) fail(std::to_string(left()) + " bytes after its last field");
  }

 private:
  template <typename T>
  T get(const char* what) {
    if (left() < sizeof(T)) fail(std::string("truncated at ") + what);
    T v;
    std::memcpy(&v, in_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  std::string_view in_;
  size_t at_ = 0;
  std::string what_;
};

}  // namespace hvrun::vmm
