// The state blobs of a microVM snapshot as a restore reads them (after the
// file's CRCs passed: a hostile or corrupt snapshot made with a matching
// CRC): the first byte picks the reader, the rest is the blob.
//   0 vCPU (vmm/vcpu_state.hpp decode)   1 interrupt controllers and clock
//   2 serial port   3 i8042   4 CMOS clock
//   5 a virtio-console's transport (vmm/virtio_mmio.hpp restore_state),
//     over a 64 KiB fake guest memory whose rings hold a few used entries
//   6 a virtio-net's transport (tap fd -1: nothing is sent)
// Whatever the bytes, a reader ends in hvrun::Error or a restored part; a
// restored transport's ready queues lie inside guest memory, hold nothing
// in flight, and notifying each of them afterwards stays inside memory.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"
#include "vmm/i8042.hpp"
#include "vmm/rtc.hpp"
#include "vmm/serial.hpp"
#include "vmm/vcpu_state.hpp"
#include "vmm/virtio_console.hpp"
#include "vmm/virtio_mmio.hpp"
#include "vmm/virtio_net.hpp"
#include "vmm/vm_state.hpp"

using namespace hvrun;
using namespace hvrun::vmm;

namespace {

constexpr uint64_t kMem = 64 * 1024;

template <typename Make>
void restore_transport(Make make, std::string_view blob) {
  static std::vector<uint8_t> buf;
  buf.assign(kMem, 0);
  // The seeds' queues: rings at 0x000/0x100/0x200 and 0x400/0x500/0x600,
  // 3 entries made available and used.
  for (size_t idx : {0x102, 0x202, 0x502, 0x602}) buf[idx] = 3;
  GuestMemory mem(buf.data(), kMem);
  std::unique_ptr<VirtioDevice> dev = make();
  const unsigned nq = dev->num_queues();
  MmioTransport t(std::move(dev), mem, nullptr);
  t.restore_state(blob);
  t.resume_after_restore();  // restored queues serve the guest's rings from where they were
  for (unsigned q = 0; q < nq; ++q) t.notify(q);
  // What a restored transport saves restores again (a snapshot of a clone).
  MmioTransport again(make(), mem, nullptr);
  again.restore_state(t.save_state());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view blob(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 7) {
      case 0: {
        const VcpuState s = decode_vcpu_state(blob);
        if (s.msrs.size() > VcpuState::kMaxMsrs) fuzz::invariant_failed("more MSRs than the limit were accepted");
        if (decode_vcpu_state(encode_vcpu_state(s)).msrs != s.msrs) fuzz::invariant_failed("a vCPU state does not round trip");
        break;
      }
      case 1: decode_vm_state(blob); break;
      case 2: {
        Serial s(-1, [] {});
        s.restore_state(blob);
        if (s.input_room() > Serial::kFifoSize) fuzz::invariant_failed("the serial FIFO holds more than its size");
        for (int i = 0; i < 70; ++i) s.read(0);
        break;
      }
      case 3: {
        I8042 k;
        k.restore_state(blob);
        for (int i = 0; i < 20; ++i) k.read(I8042::kDataPort);
        break;
      }
      case 4: {
        CmosRtc r;
        r.restore_state(blob);
        r.read(CmosRtc::kDataPort);
        break;
      }
      case 5: restore_transport([] { return std::make_unique<VirtioConsole>(-1, -1); }, blob); break;
      case 6: {
        restore_transport([] {
          const unsigned char mac[6] = {2, 0, 0, 0, 0, 1};
          return std::make_unique<VirtioNet>(-1, mac);
        }, blob);
        break;
      }
    }
  } catch (const Error& e) {
    if (fuzz::verbose()) std::fprintf(stderr, "refused: %s\n", e.what());
  }
  return 0;
}
