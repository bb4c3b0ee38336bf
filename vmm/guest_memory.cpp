#include "vmm/guest_memory.hpp"

#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>

namespace hvrun::vmm {

GuestMemory GuestMemory::allocate(uint64_t size) {
  if (size == 0 || size % 4096 != 0) throw Error("guest memory size " + std::to_string(size) + " is not a positive multiple of 4 KiB");
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw_sys("mmap guest memory", std::to_string(size >> 20) + " MiB");
  return GuestMemory(Mapping(p, size), size);
}

bool GuestMemory::map_file(uint64_t gpa, int fd, uint64_t off, uint64_t len) const {
  if (!mapping_.data() || len == 0 || (gpa | off | len) % 4096 != 0) return false;
  uint8_t* at = translate(gpa, len);
  void* p = ::mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, static_cast<off_t>(off));
  if (p == MAP_FAILED) return false;  // MAP_FIXED failing leaves the old mapping in place
  return true;
}

uint8_t* GuestMemory::translate(uint64_t gpa, uint64_t len) const {
  if (!contains(gpa, len)) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "guest address range 0x%" PRIx64 "+0x%" PRIx64 " is outside guest memory (0x%" PRIx64 " bytes)", gpa, len, size_);
    throw GuestMemoryError(buf);
  }
  return base_ + gpa;
}

}  // namespace hvrun::vmm
