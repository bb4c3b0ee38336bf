// The state blobs of a microVM snapshot as a restore reads them (after the
// file's CRCs passed: a hostile or corrupt snapshot made with a matching
// CRC): the first byte picks the reader, the rest is the blob.
//   0 vCPU (vmm/vcpu_state.hpp decode)   1 interrupt controllers and clock
//   2 serial port   3 i8042   4 CMOS clock
//   5 a virtio-console's transport (vmm/virtio_mmio.hpp restore_state),
//     over a 64 KiB fake guest memory whose rings hold a few used entries
//   6 a virtio-net's transport (tap fd -1: nothing is sent)
//   7 a virtio-blk's transport, its own state (the capacity the guest saw)
//     included, over a 1 MiB read-only disk in a memfd
//   8 a 9p session (vmm/p9_server.hpp restore_state) into a server on a
//     small share (a file, a directory, a symlink to /): its fids are bound
//     and reopened by path, never creating, truncating or leaving the share
// Whatever the bytes, a reader ends in hvrun::Error or a restored part; a
// restored transport's ready queues lie inside guest memory, hold nothing
// in flight, and notifying each of them afterwards stays inside memory.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"
#include "vmm/i8042.hpp"
#include "vmm/p9_server.hpp"
#include "vmm/rtc.hpp"
#include "vmm/serial.hpp"
#include "vmm/vcpu_state.hpp"
#include "vmm/virtio_blk.hpp"
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

// The share case 8 restores into, made once; its entries never change.
const std::string& share() {
  static const std::string dir = [] {
    char t[] = "/tmp/hvrun-fuzz-p9-XXXXXX";
    if (!::mkdtemp(t)) std::abort();
    const std::string d = t;
    const int fd = ::open((d + "/f").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, "data", 4) != 4 || ::mkdir((d + "/d").c_str(), 0755) < 0 || ::symlink("/", (d + "/l").c_str()) < 0)
      std::abort();
    ::close(fd);
    return d;
  }();
  return dir;
}

std::string share_listing() {
  std::string out;
  DIR* d = ::opendir(share().c_str());
  if (!d) std::abort();
  while (dirent* e = ::readdir(d)) out += std::string(e->d_name) + "/";
  ::closedir(d);
  struct stat st{};
  if (::stat((share() + "/f").c_str(), &st) == 0) out += std::to_string(st.st_size);
  return out;
}

void restore_9p(std::string_view blob) {
  static const std::string before = share_listing();
  P9Server s(share(), false);
  try {
    (void)s.restore_state(blob);
  } catch (const Error&) {
    if (s.fid_count() != 0) fuzz::invariant_failed("a refused 9p session left fids bound");
    throw;
  }
  P9Server again(share(), true);
  (void)again.restore_state(s.save_state());
  if (again.fid_count() > s.fid_count()) fuzz::invariant_failed("a saved 9p session restored more fids than it had");
  if (share_listing() != before) fuzz::invariant_failed("restoring a 9p session changed the share");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view blob(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 9) {
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
      case 7: {
        static const std::string disk = [] {
          const int fd = ::memfd_create("fuzz-disk", 0);  // kept open for the process's life
          if (fd < 0 || ::ftruncate(fd, 1 << 20) < 0) std::abort();
          return "/proc/self/fd/" + std::to_string(fd);
        }();
        restore_transport([] { return std::make_unique<VirtioBlk>(disk, true); }, blob);
        break;
      }
      case 8: restore_9p(blob); break;
    }
  } catch (const Error& e) {
    if (fuzz::verbose()) std::fprintf(stderr, "refused: %s\n", e.what());
  }
  return 0;
}
