// virtio-blk request parsing (vmm/virtio_blk.cpp): header, data and status
// descriptors from a hostile driver, against a 64 KiB scratch disk that is
// zeroed before each input. Bit 0 of the first input byte opens the disk
// read-only (writes must then fail with IOERR, never reach the file).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.hpp"
#include "tests/fuzz/virtio_fuzz.hpp"
#include "vmm/virtio_blk.hpp"

using namespace hvrun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir("blk");
  static const std::string disk = dir.path() + "/disk.img";
  static std::vector<uint8_t> mem;
  {
    int fd = ::open(disk.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::ftruncate(fd, 64 * 1024) != 0) std::abort();
    ::close(fd);
  }
  const bool ro = size > 0 && (data[0] & 1);
  if (ro) {
    struct stat before{};
    ::stat(disk.c_str(), &before);
    fuzz::drive_virtio(std::make_unique<vmm::VirtioBlk>(disk, true), mem, data, size);
    struct stat after{};
    ::stat(disk.c_str(), &after);
    if (after.st_size != before.st_size) fuzz::invariant_failed("a read-only disk changed size");
  } else {
    fuzz::drive_virtio(std::make_unique<vmm::VirtioBlk>(disk, false), mem, data, size);
  }
  return 0;
}
