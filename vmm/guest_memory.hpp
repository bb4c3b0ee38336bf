// Guest physical memory: one contiguous region starting at guest physical
// address 0. Every access the VMM makes on behalf of the guest goes through
// translate(), which checks the whole range [gpa, gpa+len) and fails cleanly
// (GuestMemoryError) on overflow or on anything outside the region.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::vmm {

// A guest handed the VMM an address or length outside guest memory.
class GuestMemoryError : public Error {
 public:
  using Error::Error;
};

class GuestMemory {
 public:
  // Anonymous, MAP_NORESERVE: pages cost nothing until the guest touches them.
  static GuestMemory allocate(uint64_t size);
  // A view of memory owned by someone else (unit tests use a plain buffer).
  GuestMemory(uint8_t* base, uint64_t size) : base_(base), size_(size) {}
  GuestMemory(GuestMemory&&) = default;
  GuestMemory& operator=(GuestMemory&&) = default;

  uint64_t size() const { return size_; }
  uint8_t* host_base() const { return base_; }

  // Host pointer to [gpa, gpa+len); throws GuestMemoryError when any byte
  // lies outside guest memory or gpa+len overflows. len 0 is allowed at any
  // gpa <= size.
  uint8_t* translate(uint64_t gpa, uint64_t len) const;
  bool contains(uint64_t gpa, uint64_t len) const { return len <= size_ && gpa <= size_ - len; }

  // Maps [off, off+len) of the file `fd` copy-on-write at [gpa, gpa+len)
  // in place of the anonymous pages there: no copy, and the guest's first
  // touch of each page takes it straight from the page cache (a write
  // makes a private copy; the file never changes). gpa, off and len must
  // be page aligned and the range inside guest memory. Returns false (and
  // changes nothing) when this is a view of memory owned elsewhere or the
  // kernel refuses the mapping: the caller copies instead.
  bool map_file(uint64_t gpa, int fd, uint64_t off, uint64_t len) const;

  void read(uint64_t gpa, void* out, uint64_t len) const { std::memcpy(out, translate(gpa, len), len); }
  void write(uint64_t gpa, const void* in, uint64_t len) const { std::memcpy(translate(gpa, len), in, len); }
  template <typename T>
  T load(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    read(gpa, &v, sizeof v);
    return v;
  }
  template <typename T>
  void store(uint64_t gpa, const T& v) const {
    static_assert(std::is_trivially_copyable_v<T>);
    write(gpa, &v, sizeof v);
  }

 private:
  GuestMemory(Mapping m, uint64_t size) : mapping_(std::move(m)), base_(static_cast<uint8_t*>(mapping_.data())), size_(size) {}
  Mapping mapping_;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace hvrun::vmm
