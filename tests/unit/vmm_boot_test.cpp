// x86 boot structures built into a GuestMemory without /dev/kvm: bzImage
// zero page, PVH start info from an ELF note, initrd placement, MP table, CPUID.
#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/boot.hpp"

using namespace hvrun::vmm;

namespace {

struct TempFile {
  std::string path;
  explicit TempFile(const std::vector<uint8_t>& content) {
    char tmpl[] = "/tmp/hvrun-vmm-boot-XXXXXX";
    int fd = ::mkstemp(tmpl);
    path = tmpl;
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

template <typename T>
void put(std::vector<uint8_t>& b, size_t off, T v) {
  std::memcpy(&b[off], &v, sizeof v);
}

std::vector<uint8_t> fake_bzimage(uint16_t version = 0x20f) {
  std::vector<uint8_t> b(2 * 512 + 4096, 0);
  b[0x1f1] = 1;  // setup_sects: protected-mode kernel at 1024
  b[0x201] = 0x6a;
  std::memcpy(&b[0x202], "HdrS", 4);
  put<uint16_t>(b, 0x206, version);
  put<uint32_t>(b, 0x22c, 0x37ffffff);  // initrd_addr_max
  put<uint16_t>(b, 0x236, 1);           // XLF_KERNEL_64
  put<uint32_t>(b, 0x238, 2048);        // cmdline_size
  put<uint32_t>(b, 0x260, 0x200000);    // init_size
  for (size_t i = 1024; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7);
  return b;
}

// A PVH vmlinux: one PT_LOAD of `filesz` bytes (0x5a) at file offset
// 0x1000 for guest 0x1000000 (memsz with the bss), and the entry note.
std::vector<uint8_t> fake_pvh_elf(bool with_note, uint64_t filesz = 0x100, uint64_t memsz = 0x2000,
                                  uint32_t entry = 0x1000abc) {
  std::vector<uint8_t> b(0x1000 + filesz, 0);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_machine = EM_X86_64;
  eh.e_phoff = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 2;
  std::memcpy(b.data(), &eh, sizeof eh);
  Elf64_Phdr load{};
  load.p_type = PT_LOAD;
  load.p_offset = 0x1000;
  load.p_paddr = 0x1000000;
  load.p_filesz = filesz;
  load.p_memsz = memsz;
  Elf64_Phdr note{};
  note.p_type = PT_NOTE;
  note.p_offset = 0x200;
  note.p_filesz = with_note ? 12 + 4 + 4 : 0;
  std::memcpy(&b[sizeof eh], &load, sizeof load);
  std::memcpy(&b[sizeof eh + sizeof load], &note, sizeof note);
  Elf64_Nhdr nh{4, 4, 18};  // "Xen", XEN_ELFNOTE_PHYS32_ENTRY
  std::memcpy(&b[0x200], &nh, sizeof nh);
  std::memcpy(&b[0x20c], "Xen", 4);
  put<uint32_t>(b, 0x210, entry);
  for (size_t i = 0x1000; i < b.size(); ++i) b[i] = 0x5a;
  return b;
}

template <typename T>
T at(const GuestMemory& m, uint64_t gpa) {
  return m.load<T>(gpa);
}

}  // namespace

TEST(VmmBoot, BzImageLoadsKernelAndFillsZeroPage) {
  GuestMemory mem = GuestMemory::allocate(64 << 20);
  auto img = fake_bzimage();
  TempFile k(img), rd(std::vector<uint8_t>(10000, 0x11));
  BootEntry e = load_linux(mem, k.path, rd.path, "console=ttyS0");
  EXPECT_EQ(e.mode, BootEntry::Mode::Long64);
  EXPECT_EQ(e.rip, 0x100200u);
  EXPECT_EQ(e.rsi, kZeroPageAddr);
  EXPECT_EQ(std::memcmp(mem.translate(0x100000, img.size() - 1024), &img[1024], img.size() - 1024), 0);
  EXPECT_EQ(at<uint8_t>(mem, kZeroPageAddr + 0x210), 0xff);  // type_of_loader
  EXPECT_EQ(at<uint32_t>(mem, kZeroPageAddr + 0x202), 0x53726448u);  // "HdrS" copied
  EXPECT_EQ(at<uint32_t>(mem, kZeroPageAddr + 0x228), kCmdlineAddr);
  EXPECT_STREQ(reinterpret_cast<const char*>(mem.translate(kCmdlineAddr, 14)), "console=ttyS0");
  const uint32_t rd_addr = at<uint32_t>(mem, kZeroPageAddr + 0x218);
  EXPECT_EQ(at<uint32_t>(mem, kZeroPageAddr + 0x21c), 10000u);
  EXPECT_EQ(rd_addr % 4096, 0u);
  EXPECT_LE(rd_addr + 10000ull, mem.size());
  EXPECT_GE(rd_addr, 0x100000u + 0x200000u);  // above the kernel's init_size
  EXPECT_EQ(at<uint8_t>(mem, rd_addr), 0x11);
  EXPECT_EQ(at<uint8_t>(mem, kZeroPageAddr + 0x1e8), 3);  // e820 entries
  EXPECT_EQ(at<uint64_t>(mem, kZeroPageAddr + 0x2d0 + 40), 0x100000u);  // third: high RAM
  EXPECT_EQ(at<uint64_t>(mem, kZeroPageAddr + 0x2d0 + 48), mem.size() - 0x100000);
  // identity map: PML4 -> PDPT -> PD, first PD entry maps 0 with a 2 MiB page
  EXPECT_EQ(at<uint64_t>(mem, kPml4Addr) & ~0xfffull, kPml4Addr + 0x1000);
  EXPECT_EQ(at<uint64_t>(mem, kPml4Addr + 0x2000 + 8), 0x200083u);
}

TEST(VmmBoot, BzImageRejectsOldProtocolAndTooLongCmdline) {
  GuestMemory mem = GuestMemory::allocate(64 << 20);
  TempFile old(fake_bzimage(0x20a));
  EXPECT_THROW(load_linux(mem, old.path, "", ""), hvrun::Error);
  TempFile k(fake_bzimage());
  EXPECT_THROW(load_linux(mem, k.path, "", std::string(3000, 'x')), hvrun::Error);
}

TEST(VmmBoot, InitrdTooLargeForMemoryFailsCleanly) {
  GuestMemory mem = GuestMemory::allocate(16 << 20);
  TempFile k(fake_bzimage()), rd(std::vector<uint8_t>(15 << 20, 0));
  try {
    load_linux(mem, k.path, rd.path, "");
    FAIL() << "an initrd overlapping the kernel was accepted";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("initrd"), std::string::npos) << e.what();
  }
}

TEST(VmmBoot, PvhElfLoadsSegmentsAndWritesStartInfo) {
  GuestMemory mem = GuestMemory::allocate(64 << 20);
  std::memset(mem.translate(0x1000100, 16), 0xee, 16);  // must be zeroed (bss)
  TempFile k(fake_pvh_elf(true)), rd(std::vector<uint8_t>(5000, 0x22));
  BootEntry e = load_linux(mem, k.path, rd.path, "root=/dev/vda");
  EXPECT_EQ(e.mode, BootEntry::Mode::Protected32);
  EXPECT_EQ(e.rip, 0x1000abcu);
  EXPECT_EQ(e.rbx, kPvhInfoAddr);
  EXPECT_EQ(at<uint8_t>(mem, 0x1000000), 0x5a);
  EXPECT_EQ(at<uint8_t>(mem, 0x1000100), 0);
  EXPECT_EQ(at<uint32_t>(mem, kPvhInfoAddr), 0x336ec578u);  // magic
  EXPECT_EQ(at<uint32_t>(mem, kPvhInfoAddr + 12), 1u);      // nr_modules
  EXPECT_EQ(at<uint64_t>(mem, kPvhInfoAddr + 24), kCmdlineAddr);
  const uint64_t mod = at<uint64_t>(mem, kPvhInfoAddr + 16);
  const uint64_t rd_addr = at<uint64_t>(mem, mod);
  EXPECT_EQ(at<uint64_t>(mem, mod + 8), 5000u);
  EXPECT_EQ(at<uint8_t>(mem, rd_addr), 0x22);
  EXPECT_EQ(at<uint32_t>(mem, kPvhInfoAddr + 48), 3u);  // memmap entries
  const uint64_t memmap = at<uint64_t>(mem, kPvhInfoAddr + 40);
  EXPECT_EQ(at<uint64_t>(mem, memmap + 48 + 8), mem.size() - 0x100000);
}

TEST(VmmBoot, ElfWithoutPvhNoteIsRejectedWithReason) {
  GuestMemory mem = GuestMemory::allocate(64 << 20);
  TempFile k(fake_pvh_elf(false));
  try {
    load_linux(mem, k.path, "", "");
    FAIL() << "ELF without a PVH entry was accepted";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("PVH"), std::string::npos) << e.what();
  }
}

TEST(VmmBoot, ElfSegmentOutsideMemoryIsRejected) {
  GuestMemory mem = GuestMemory::allocate(16 << 20);  // segment at 16 MiB does not fit
  TempFile k(fake_pvh_elf(true));
  EXPECT_THROW(load_linux(mem, k.path, "", ""), hvrun::Error);
}

TEST(VmmBoot, MpTableHasValidChecksumsAndOneEntryPerVcpu) {
  GuestMemory mem = GuestMemory::allocate(16 << 20);
  write_mptable(mem, 3);
  const uint8_t* fp = mem.translate(kMpTableAddr, 16);
  EXPECT_EQ(std::memcmp(fp, "_MP_", 4), 0);
  uint8_t sum = 0;
  for (int i = 0; i < 16; ++i) sum = static_cast<uint8_t>(sum + fp[i]);
  EXPECT_EQ(sum, 0);
  uint32_t table;
  std::memcpy(&table, fp + 4, 4);
  uint16_t len = at<uint16_t>(mem, table + 4);
  const uint8_t* t = mem.translate(table, len);
  EXPECT_EQ(std::memcmp(t, "PCMP", 4), 0);
  sum = 0;
  for (int i = 0; i < len; ++i) sum = static_cast<uint8_t>(sum + t[i]);
  EXPECT_EQ(sum, 0);
  int cpus = 0, bsp = 0;
  for (size_t off = 44; off < len;) {
    if (t[off] == 0) {
      ++cpus;
      EXPECT_EQ(t[off + 1], cpus - 1);  // APIC ids 0..n-1
      if (t[off + 3] & 2) ++bsp;
      off += 20;
    } else {
      off += 8;
    }
  }
  EXPECT_EQ(cpus, 3);
  EXPECT_EQ(bsp, 1);
}

TEST(VmmBoot, CpuidCarriesApicIdPerVcpu) {
  CpuidTable t;
  kvm_cpuid_entry2 leaf1{};
  leaf1.function = 1;
  leaf1.ebx = 0xff00abcd;
  kvm_cpuid_entry2 leafb{};
  leafb.function = 0xb;
  t.entries = {leaf1, leafb};
  CpuidTable c = cpuid_for_vcpu(t, 5, 8);
  EXPECT_EQ(c.entries[0].ebx >> 24, 5u);
  EXPECT_EQ(c.entries[0].ebx & 0xffff, 0xabcdu);
  EXPECT_TRUE(c.entries[0].ecx & (1u << 31));
  EXPECT_EQ(c.entries[1].edx, 5u);
}

TEST(VmmBoot, CpuidAdvertisesTscDeadlineTimerOnlyWhenKvmEmulatesIt) {
  CpuidTable t;
  kvm_cpuid_entry2 leaf1{};
  leaf1.function = 1;
  t.entries = {leaf1};
  EXPECT_FALSE(cpuid_for_vcpu(t, 0, 1).entries[0].ecx & (1u << 24));
  CpuidExtras x;
  x.tsc_deadline = true;
  CpuidTable c = cpuid_for_vcpu(t, 0, 1, x);
  EXPECT_TRUE(c.entries[0].ecx & (1u << 24));
  EXPECT_TRUE(c.entries[0].ecx & (1u << 31));  // the other bits survive
}

// A vmlinux segment big enough to be mapped from the page cache (not
// copied) and an initrd whose size is not a page multiple: guest memory
// holds exactly the file bytes, the bss after the segment is zero, and a
// guest write to loaded pages changes guest memory only, never the file.
TEST(VmmBoot, LargeSegmentAndInitrdLoadByteExactAndGuestWritesNeverReachTheFile) {
  const uint64_t seg = 0x40000 + 0x123;  // 256 KiB + a partial page
  std::vector<uint8_t> b = fake_pvh_elf(true, seg, seg + 0x3000, 0x1000000);
  for (size_t i = 0x1000; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 13 + (i >> 9));
  std::vector<uint8_t> initrd(0x30000 + 77);
  for (size_t i = 0; i < initrd.size(); ++i) initrd[i] = static_cast<uint8_t>(i * 31 + 5);
  TempFile k(b), rd(initrd);

  GuestMemory mem = GuestMemory::allocate(64 << 20);
  std::memset(mem.translate(0x1000000 + seg, 0x3000), 0xee, 0x3000);  // stale bytes where the bss goes
  load_linux(mem, k.path, rd.path, "");
  auto mapped = [](const std::string& p) {  // is the file mapped into this process?
    FILE* f = std::fopen("/proc/self/maps", "r");
    char line[4096];
    bool found = false;
    while (f && std::fgets(line, sizeof line, f))
      if (std::strstr(line, p.c_str())) found = true;
    if (f) std::fclose(f);
    return found;
  };
  EXPECT_TRUE(mapped(k.path));  // the segment's whole pages come from the page cache
  EXPECT_TRUE(mapped(rd.path));
  EXPECT_EQ(std::memcmp(mem.translate(0x1000000, seg), &b[0x1000], seg), 0);
  const uint8_t* bss = mem.translate(0x1000000 + seg, 0x3000);
  EXPECT_TRUE(std::all_of(bss, bss + 0x3000, [](uint8_t c) { return c == 0; }));
  const uint64_t mods = at<uint64_t>(mem, kPvhInfoAddr + 0x10);
  const uint64_t rd_addr = at<uint64_t>(mem, mods);
  EXPECT_EQ(at<uint64_t>(mem, mods + 8), initrd.size());
  EXPECT_EQ(std::memcmp(mem.translate(rd_addr, initrd.size()), initrd.data(), initrd.size()), 0);

  // The guest scribbles over both: the files stay as they were.
  std::memset(mem.translate(0x1000000, seg), 0, seg);
  std::memset(mem.translate(rd_addr, initrd.size()), 0, initrd.size());
  auto slurp = [](const std::string& p) {
    std::vector<uint8_t> v;
    FILE* f = std::fopen(p.c_str(), "rb");
    int c;
    while (f && (c = std::fgetc(f)) != EOF) v.push_back(static_cast<uint8_t>(c));
    if (f) std::fclose(f);
    return v;
  };
  EXPECT_EQ(slurp(k.path), b);
  EXPECT_EQ(slurp(rd.path), initrd);
}
