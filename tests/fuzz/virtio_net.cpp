// virtio-net request parsing (vmm/virtio_net.cpp): receive buffers and
// transmit chains from a hostile driver. The tap is a SOCK_SEQPACKET
// socketpair (one message = one packet, as a tap), made once; before each
// input the "network" end queues two packets cut from the input, after it
// both ends are drained so that nothing carries over.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "tests/fuzz/fuzz_util.hpp"
#include "tests/fuzz/virtio_fuzz.hpp"
#include "vmm/virtio_net.hpp"

using namespace hvrun;

namespace {

void drain(int fd) {
  char buf[70000];
  while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int sv[2] = {-1, -1};
  static std::vector<uint8_t> mem;
  static const unsigned char mac[6] = {0x02, 0x42, 0x0a, 0x58, 0x00, 0x05};
  if (sv[0] < 0 && ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  // Two incoming packets: the input's last 60 bytes and its first 20.
  const size_t tail = size < 60 ? size : 60;
  (void)!::send(sv[0], data + size - tail, tail, MSG_DONTWAIT);
  (void)!::send(sv[0], data, size < 20 ? size : 20, MSG_DONTWAIT);
  fuzz::drive_virtio(std::make_unique<vmm::VirtioNet>(sv[1], mac), mem, data, size);
  drain(sv[0]);
  drain(sv[1]);
  return 0;
}
