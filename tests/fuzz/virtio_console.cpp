// virtio-console request parsing (vmm/virtio_console.cpp): receive buffers
// and transmit chains from a hostile driver. Input comes from a pipe that
// holds the input's first 32 bytes before each run (drained after), output
// goes to /dev/null.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "tests/fuzz/fuzz_util.hpp"
#include "tests/fuzz/virtio_fuzz.hpp"
#include "vmm/virtio_console.hpp"

using namespace hvrun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int in[2] = {-1, -1};
  static int out = -1;
  static std::vector<uint8_t> mem;
  if (in[0] < 0) {
    if (::pipe2(in, O_NONBLOCK | O_CLOEXEC) != 0) std::abort();
    out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (out < 0) std::abort();
  }
  (void)!::write(in[1], data, size < 32 ? size : 32);
  fuzz::drive_virtio(std::make_unique<vmm::VirtioConsole>(in[0], out), mem, data, size);
  char buf[256];
  while (::read(in[0], buf, sizeof buf) > 0) {
  }
  return 0;
}
