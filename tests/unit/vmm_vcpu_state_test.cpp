// A vCPU's state for snapshots (vmm/vcpu_state.hpp): the blob's codec,
// which reads a snapshot as hostile input, and (with a usable /dev/kvm) a
// tiny real-mode guest whose state, saved in one VM and restored in
// another with a copy of its memory, goes on counting where it stopped.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

#include "tests/guests/test_guests.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/kvm.hpp"
#include "vmm/kvm_kind.hpp"
#include "vmm/vcpu_state.hpp"

namespace hvrun::vmm {
namespace {

VcpuState sample() {
  VcpuState s;
  s.regs.rax = 0x1122334455667788ULL;
  s.regs.rip = 0xfff0;
  s.sregs.cr0 = 0x60000010;
  s.sregs.cs.base = 0xffff0000;
  for (size_t i = 0; i < s.xsave.size(); ++i) s.xsave[i] = uint8_t(i * 13);
  s.xcrs.nr_xcrs = 1;
  s.xcrs.xcrs[0].value = 7;
  s.lapic.regs[0x20] = 1;
  s.events.exception.injected = 1;
  s.debugregs.dr7 = 0x400;
  s.mp_state.mp_state = KVM_MP_STATE_HALTED;
  s.msrs = {{0x10, 123456789}, {0x4b564d01, 0xabc1}, {0xc0000082, 0xffffffff81000000ULL}};
  return s;
}

std::string decode_error(std::string_view blob) {
  try {
    decode_vcpu_state(blob);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

TEST(VcpuStateBlob, EveryPartRoundTrips) {
  const VcpuState s = sample();
  const VcpuState b = decode_vcpu_state(encode_vcpu_state(s));
  EXPECT_EQ(b.regs.rax, s.regs.rax);
  EXPECT_EQ(b.regs.rip, s.regs.rip);
  EXPECT_EQ(b.sregs.cr0, s.sregs.cr0);
  EXPECT_EQ(b.sregs.cs.base, s.sregs.cs.base);
  EXPECT_EQ(b.xsave, s.xsave);
  EXPECT_EQ(b.xcrs.xcrs[0].value, 7u);
  EXPECT_EQ(b.lapic.regs[0x20], 1);
  EXPECT_EQ(b.events.exception.injected, 1);
  EXPECT_EQ(b.debugregs.dr7, 0x400u);
  EXPECT_EQ(b.mp_state.mp_state, unsigned(KVM_MP_STATE_HALTED));
  EXPECT_EQ(b.msrs, s.msrs);
  EXPECT_EQ(encode_vcpu_state(b), encode_vcpu_state(s));
}

TEST(VcpuStateBlob, TruncatedPaddedOrForeignBlobsAreRefusedSayingWhy) {
  const std::string good = encode_vcpu_state(sample());
  for (size_t cut = 0; cut < good.size(); cut += (cut < 64 ? 1 : 37)) {
    std::string why = decode_error(good.substr(0, cut));
    EXPECT_NE(why, "") << "cut at " << cut;
    EXPECT_EQ(why.rfind("vCPU state in the snapshot is corrupt: ", 0), 0u) << why;
  }
  EXPECT_NE(decode_error(good + "x").find("MSR list is not 3 entries long"), std::string::npos);
  std::string other = good;
  other[4] = 9;  // version
  EXPECT_NE(decode_error(other).find("version 9"), std::string::npos) << decode_error(other);
  other = good;
  const uint32_t bigger = sizeof(kvm_regs) + 8;  // a kernel whose kvm_regs grew
  std::memcpy(&other[8], &bigger, 4);
  EXPECT_NE(decode_error(other).find("regs is " + std::to_string(bigger) + " bytes; this host's KVM uses"),
            std::string::npos)
      << decode_error(other);
  other = good;
  const uint32_t many = 1u << 30;
  std::memcpy(&other[other.size() - 3 * 12 - 4], &many, 4);
  EXPECT_NE(decode_error(other).find("MSRs (at most 1024)"), std::string::npos) << decode_error(other);
  EXPECT_NE(decode_error("garbage").find("not a vCPU state"), std::string::npos);
}

// Real mode at 0x1000: inc bx; mov al, bl; out 0x10, al; jmp back.
constexpr uint8_t kCounter[] = {0x43, 0x88, 0xd8, 0xe6, 0x10, 0xeb, 0xf9};

struct TinyVm {
  static constexpr size_t kMem = 1 << 20;
  TinyVm(const Kvm& kvm, const uint8_t* image) : vm(kvm) {
    mem = Mapping(::mmap(nullptr, kMem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), kMem);
    std::memcpy(mem.data(), image, kMem);
    vm.set_tss_addr(0xfffbc000);
    vm.create_irqchip();
    vm.set_memory(0, 0, kMem, mem.data());
    vcpu = std::make_unique<Vcpu>(kvm, vm, 0);
  }
  // Runs to the next OUT to port 0x10 and returns its byte.
  int next_count() {
    for (int i = 0; i < 100; ++i) {
      if (!vcpu->run()) continue;
      kvm_run* r = vcpu->run_struct();
      if (r->exit_reason == KVM_EXIT_IO && r->io.port == 0x10)
        return reinterpret_cast<uint8_t*>(r)[r->io.data_offset];
      if (r->exit_reason != KVM_EXIT_IO) return -int(r->exit_reason);
    }
    return -1000;
  }
  VmFd vm;
  Mapping mem;
  std::unique_ptr<Vcpu> vcpu;
};

TEST(VmmGuest, AVcpuSavedInOneVmGoesOnCountingInAnotherFromTheSameMemory) {
  HVRUN_REQUIRE_KVM();
  if (detect_kvm().kind == KvmKind::Pvm) GTEST_SKIP() << "PVM's /dev/kvm runs no real-mode guest; the nested test host runs this";
  Kvm kvm;
  std::vector<uint8_t> image(TinyVm::kMem, 0);
  std::memcpy(&image[0x1000], kCounter, sizeof kCounter);
  TinyVm a(kvm, image.data());
  kvm_sregs sr = a.vcpu->sregs();
  sr.cs.base = 0;
  sr.cs.selector = 0;
  a.vcpu->set_sregs(sr);
  kvm_regs rg{};
  rg.rip = 0x1000;
  rg.rflags = 2;
  a.vcpu->set_regs(rg);
  for (int want = 1; want <= 5; ++want) ASSERT_EQ(a.next_count(), want);

  const VcpuState saved = decode_vcpu_state(encode_vcpu_state(save_vcpu(*a.vcpu, saveable_msrs(kvm))));
  EXPECT_FALSE(saved.msrs.empty());
  EXPECT_EQ(saved.regs.rbx & 0xffff, 5u);
  TinyVm b(kvm, static_cast<const uint8_t*>(a.mem.data()));
  restore_vcpu(*b.vcpu, saved);
  // Both go on from 5, each on its own.
  EXPECT_EQ(b.next_count(), 6);
  EXPECT_EQ(b.next_count(), 7);
  EXPECT_EQ(a.next_count(), 6);
  const VcpuState again = save_vcpu(*b.vcpu, saveable_msrs(kvm));
  EXPECT_EQ(again.sregs.cr0, saved.sregs.cr0);
  EXPECT_EQ(again.xsave, saved.xsave);
  EXPECT_EQ(again.lapic.regs[0x20], saved.lapic.regs[0x20]);  // APIC ID
}

}  // namespace
}  // namespace hvrun::vmm
