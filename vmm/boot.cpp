#include "vmm/boot.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstring>
#include <vector>

#include "util/error.hpp"

namespace hvrun::vmm {
namespace {

constexpr uint32_t kE820Ram = 1, kE820Reserved = 2;
constexpr uint32_t kXenElfnotePhys32Entry = 18;
constexpr uint32_t kPvhMagic = 0x336ec578;

struct E820 {
  uint64_t addr, size;
  uint32_t type;
};

std::vector<E820> e820_map(uint64_t mem) {
  return {{0, kMpTableAddr, kE820Ram}, {kMpTableAddr, 0xa0000 - kMpTableAddr, kE820Reserved}, {kHighMemStart, mem - kHighMemStart, kE820Ram}};
}

struct File {
  UniqueFd fd;
  uint64_t size = 0;
  std::string path;
  explicit File(const std::string& p) : path(p) {
    fd.reset(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_sys("open", p);
    struct stat st{};
    check_sys(::fstat(fd.get(), &st), "stat", p);
    size = static_cast<uint64_t>(st.st_size);
  }
  void read_at(void* dst, uint64_t len, uint64_t off) const {
    if (off > size || len > size - off) throw Error(path + ": truncated (need " + std::to_string(len) + " bytes at offset " + std::to_string(off) + ")");
    uint64_t done = 0;
    while (done < len) {
      ssize_t n = ::pread(fd.get(), static_cast<uint8_t*>(dst) + done, len - done, static_cast<off_t>(off + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_sys("read", path);
      if (n == 0) throw Error(path + ": unexpected end of file");
      done += static_cast<uint64_t>(n);
    }
  }
  // Puts [off, off+len) of the file into guest memory at gpa (checked).
  // Whole pages are mapped copy-on-write from the page cache where file
  // offset and guest address share their page offset (vmlinux segments and
  // the page-aligned initrd do): the guest faults in only what it touches,
  // and the VMM copies nothing (reading a 9 MiB vmlinux cost ~100 ms in the
  // nested test host). Partial pages at either end are copied.
  void load(const GuestMemory& mem, uint64_t gpa, uint64_t len, uint64_t off) const {
    if (!mem.contains(gpa, len)) throw Error(path + ": does not fit in guest memory (" + std::to_string(len) + " bytes at guest address " + std::to_string(gpa) + ")");
    if (off > size || len > size - off) throw Error(path + ": truncated (need " + std::to_string(len) + " bytes at offset " + std::to_string(off) + ")");
    constexpr uint64_t kPage = 4096;
    if (gpa % kPage == off % kPage) {
      const uint64_t head = std::min(len, (kPage - gpa % kPage) % kPage);
      const uint64_t whole = (len - head) & ~(kPage - 1);
      if (whole >= kMapFileMin && mem.map_file(gpa + head, fd.get(), off + head, whole)) {
        read_at(mem.translate(gpa, head), head, off);
        const uint64_t tail = len - head - whole;
        read_at(mem.translate(gpa + head + whole, tail), tail, off + head + whole);
        return;
      }
    }
    read_at(mem.translate(gpa, len), len, off);
  }
  static constexpr uint64_t kMapFileMin = 64 * 1024;  // smaller pieces: a copy is cheaper than a mapping
};

void write_cmdline(const GuestMemory& mem, const std::string& cmdline, uint64_t max) {
  if (cmdline.size() + 1 > max) throw Error("kernel command line is too long (" + std::to_string(cmdline.size()) + " bytes, the kernel takes " + std::to_string(max - 1) + ")");
  mem.write(kCmdlineAddr, cmdline.c_str(), cmdline.size() + 1);
}

void write_gdt_and_page_tables(const GuestMemory& mem) {
  const uint64_t gdt[] = {0, 0x00cf9b000000ffffull, 0x00af9b000000ffffull, 0x00cf93000000ffffull, 0x00008b0000000067ull};
  mem.write(kGdtAddr, gdt, sizeof gdt);
  const uint64_t pdpt = kPml4Addr + 0x1000, pd = kPml4Addr + 0x2000;
  mem.store<uint64_t>(kPml4Addr, pdpt | 0x3);
  for (uint64_t i = 0; i < 4; ++i) mem.store<uint64_t>(pdpt + 8 * i, (pd + 0x1000 * i) | 0x3);
  std::vector<uint64_t> pds(4 * 512);
  for (uint64_t i = 0; i < pds.size(); ++i) pds[i] = (i << 21) | 0x83;  // present, writable, 2 MiB
  mem.write(pd, pds.data(), pds.size() * 8);
}

// Highest page-aligned address for an initrd of `size` bytes ending at or below `limit`, above `floor`.
uint64_t place_initrd(const GuestMemory& mem, uint64_t size, uint64_t floor, uint64_t limit) {
  uint64_t top = std::min<uint64_t>(mem.size(), limit);
  if (size > top) throw Error("initrd (" + std::to_string(size >> 20) + " MiB) does not fit in guest memory");
  uint64_t addr = (top - size) & ~0xfffull;
  if (addr < floor) throw Error("initrd does not fit in guest memory above the kernel: give the VM more memory");
  return addr;
}

BootEntry load_elf(const GuestMemory& mem, const File& f, const std::string& initrd, const std::string& cmdline) {
  Elf64_Ehdr eh;
  f.read_at(&eh, sizeof eh, 0);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr))
    throw Error(f.path + ": not an x86-64 ELF64 kernel");
  if (eh.e_phnum == 0 || eh.e_phnum > 64) throw Error(f.path + ": bad program header count");
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  f.read_at(ph.data(), ph.size() * sizeof(Elf64_Phdr), eh.e_phoff);
  uint64_t entry = 0, kernel_end = 0;
  bool have_entry = false;
  for (const auto& p : ph) {
    if (p.p_type == PT_LOAD) {
      if (p.p_filesz > p.p_memsz) throw Error(f.path + ": segment with file size > memory size");
      if (!mem.contains(p.p_paddr, p.p_memsz)) throw Error(f.path + ": segment at physical address " + std::to_string(p.p_paddr) + " does not fit in guest memory");
      f.load(mem, p.p_paddr, p.p_filesz, p.p_offset);
      std::memset(mem.translate(p.p_paddr + p.p_filesz, p.p_memsz - p.p_filesz), 0, p.p_memsz - p.p_filesz);
      kernel_end = std::max(kernel_end, p.p_paddr + p.p_memsz);
    } else if (p.p_type == PT_NOTE && !have_entry) {
      if (p.p_filesz > (1 << 20)) continue;
      std::vector<uint8_t> notes(p.p_filesz);
      f.read_at(notes.data(), notes.size(), p.p_offset);
      size_t off = 0;
      while (off + sizeof(Elf64_Nhdr) <= notes.size()) {
        Elf64_Nhdr nh;
        std::memcpy(&nh, &notes[off], sizeof nh);
        size_t name_off = off + sizeof nh;
        size_t desc_off = name_off + ((nh.n_namesz + 3) & ~3u);
        size_t next = desc_off + ((nh.n_descsz + 3) & ~3u);
        if (next > notes.size() || next <= off) break;
        if (nh.n_type == kXenElfnotePhys32Entry && nh.n_namesz == 4 && std::memcmp(&notes[name_off], "Xen", 4) == 0 && nh.n_descsz >= 4) {
          uint32_t e32;
          std::memcpy(&e32, &notes[desc_off], 4);
          entry = e32;
          have_entry = true;
          break;
        }
        off = next;
      }
    }
  }
  if (!have_entry) throw Error(f.path + ": ELF kernel has no PVH entry (XEN_ELFNOTE_PHYS32_ENTRY); build it with CONFIG_PVH=y or use a bzImage");

  write_cmdline(mem, cmdline, kCmdlineMax);
  // hvm_start_info (version 1), module list, memory map.
  const uint64_t modlist = kPvhInfoAddr + 0x40, memmap = kPvhInfoAddr + 0x100;
  struct {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
  } si{kPvhMagic, 1, 0, 0, 0, kCmdlineAddr, 0, memmap, 0, 0};
  if (!initrd.empty()) {
    File rd(initrd);
    uint64_t addr = place_initrd(mem, rd.size, kernel_end, mem.size());
    rd.load(mem, addr, rd.size, 0);
    const uint64_t mod[4] = {addr, rd.size, 0, 0};
    mem.write(modlist, mod, sizeof mod);
    si.nr_modules = 1;
    si.modlist_paddr = modlist;
  }
  auto map = e820_map(mem.size());
  for (size_t i = 0; i < map.size(); ++i) {
    struct {
      uint64_t addr, size;
      uint32_t type, reserved;
    } e{map[i].addr, map[i].size, map[i].type, 0};
    mem.write(memmap + 24 * i, &e, sizeof e);
  }
  si.memmap_entries = static_cast<uint32_t>(map.size());
  mem.write(kPvhInfoAddr, &si, sizeof si);
  BootEntry b;
  b.mode = BootEntry::Mode::Protected32;
  b.rip = entry;
  b.rbx = kPvhInfoAddr;
  return b;
}

BootEntry load_bzimage(const GuestMemory& mem, const File& f, const std::string& initrd, const std::string& cmdline) {
  std::vector<uint8_t> zp(4096, 0);  // boot_params
  uint8_t hdr[0x300 - 0x1f1];
  f.read_at(hdr, sizeof hdr, 0x1f1);
  auto u8 = [&](size_t off) { return hdr[off - 0x1f1]; };
  auto u16 = [&](size_t off) { uint16_t v; std::memcpy(&v, &hdr[off - 0x1f1], 2); return v; };
  auto u32 = [&](size_t off) { uint32_t v; std::memcpy(&v, &hdr[off - 0x1f1], 4); return v; };
  const uint16_t version = u16(0x206);
  if (version < 0x20c) throw Error(f.path + ": boot protocol " + std::to_string(version >> 8) + "." + std::to_string(version & 0xff) + " is too old (need 2.12)");
  if (!(u16(0x236) & 1)) throw Error(f.path + ": kernel has no 64-bit entry point (XLF_KERNEL_64)");
  unsigned setup_sects = u8(0x1f1) ? u8(0x1f1) : 4;
  const uint64_t kernel_off = (setup_sects + 1) * 512ull;
  if (kernel_off >= f.size) throw Error(f.path + ": truncated bzImage");
  const uint64_t kernel_size = f.size - kernel_off;
  const uint32_t init_size = u32(0x260);
  if (!mem.contains(kHighMemStart, std::max<uint64_t>(kernel_size, init_size))) throw Error(f.path + ": kernel does not fit in guest memory");
  f.load(mem, kHighMemStart, kernel_size, kernel_off);

  // The setup header goes into the zero page at the same offsets.
  const size_t hdr_end = std::min<size_t>(0x202 + u8(0x201), 0x300);
  std::memcpy(&zp[0x1f1], hdr, hdr_end - 0x1f1);
  auto put8 = [&](size_t off, uint8_t v) { zp[off] = v; };
  auto put16 = [&](size_t off, uint16_t v) { std::memcpy(&zp[off], &v, 2); };
  auto put32 = [&](size_t off, uint32_t v) { std::memcpy(&zp[off], &v, 4); };
  put8(0x210, 0xff);                                    // type_of_loader: undefined
  put8(0x211, static_cast<uint8_t>(zp[0x211] | 0x80));  // loadflags: CAN_USE_HEAP
  put16(0x224, 0xfe00);                                 // heap_end_ptr
  put32(0x228, static_cast<uint32_t>(kCmdlineAddr));    // cmd_line_ptr
  uint32_t cmdline_size = u32(0x238);
  write_cmdline(mem, cmdline, std::min<uint64_t>(cmdline_size ? cmdline_size : 256, kCmdlineMax));
  if (!initrd.empty()) {
    File rd(initrd);
    uint64_t limit = uint64_t{u32(0x22c)} + 1;  // initrd_addr_max is inclusive
    // Keep clear of where the kernel decompresses itself: init_size bytes
    // from the higher of the load address and pref_address.
    uint64_t pref = 0;
    std::memcpy(&pref, &hdr[0x258 - 0x1f1], 8);
    const uint64_t floor = std::max(kHighMemStart, std::min<uint64_t>(pref, kMaxMemBytes)) + std::max<uint64_t>(init_size, kernel_size);
    uint64_t addr = place_initrd(mem, rd.size, floor, limit);
    rd.load(mem, addr, rd.size, 0);
    put32(0x218, static_cast<uint32_t>(addr));
    put32(0x21c, static_cast<uint32_t>(rd.size));
    put32(0x0c0, static_cast<uint32_t>(addr >> 32));     // ext_ramdisk_image
    put32(0x0c4, static_cast<uint32_t>(rd.size >> 32));  // ext_ramdisk_size
  }
  auto map = e820_map(mem.size());
  put8(0x1e8, static_cast<uint8_t>(map.size()));
  for (size_t i = 0; i < map.size(); ++i) {
    std::memcpy(&zp[0x2d0 + 20 * i], &map[i].addr, 8);
    std::memcpy(&zp[0x2d0 + 20 * i + 8], &map[i].size, 8);
    std::memcpy(&zp[0x2d0 + 20 * i + 16], &map[i].type, 4);
  }
  mem.write(kZeroPageAddr, zp.data(), zp.size());
  BootEntry b;
  b.mode = BootEntry::Mode::Long64;
  b.rip = kHighMemStart + 0x200;
  b.rsi = kZeroPageAddr;
  return b;
}

}  // namespace

BootEntry load_linux(const GuestMemory& mem, const std::string& kernel, const std::string& initrd, const std::string& cmdline) {
  File f(kernel);
  uint8_t magic[4] = {};
  if (f.size >= 4) f.read_at(magic, 4, 0);
  write_gdt_and_page_tables(mem);
  if (std::memcmp(magic, ELFMAG, SELFMAG) == 0) return load_elf(mem, f, initrd, cmdline);
  uint8_t hdrs[4] = {};
  if (f.size >= 0x206) f.read_at(hdrs, 4, 0x202);
  if (std::memcmp(hdrs, "HdrS", 4) == 0) return load_bzimage(mem, f, initrd, cmdline);
  throw Error(kernel + ": neither an ELF vmlinux nor a bzImage");
}

BootEntry load_raw(const GuestMemory& mem, const std::string& image) {
  File f(image);
  write_gdt_and_page_tables(mem);
  f.load(mem, kRawLoadAddr, f.size, 0);
  BootEntry b;
  b.mode = BootEntry::Mode::Long64;
  b.rip = kRawLoadAddr;
  b.rsp = kRawLoadAddr;
  return b;
}

void write_mptable(const GuestMemory& mem, unsigned vcpus) {
  std::vector<uint8_t> t(44);  // configuration table header, filled at the end
  auto add = [&](std::initializer_list<uint8_t> bytes) { t.insert(t.end(), bytes); };
  uint16_t count = 0;
  for (unsigned i = 0; i < vcpus; ++i, ++count) {
    // processor: type 0, apic id, version, flags (EN | BP), signature, features, reserved
    add({0, static_cast<uint8_t>(i), 0x14, static_cast<uint8_t>(1 | (i == 0 ? 2 : 0)), 0x00, 0x06, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  }
  add({1, 0, 'I', 'S', 'A', ' ', ' ', ' '});  // bus 0: ISA
  ++count;
  const uint8_t ioapic_id = static_cast<uint8_t>(vcpus);
  add({2, ioapic_id, 0x11, 1, 0x00, 0x00, 0xc0, 0xfe});  // IOAPIC at 0xfec00000
  ++count;
  for (uint8_t irq = 0; irq < 24; ++irq, ++count) add({3, 0, 0, 0, 0, irq, ioapic_id, irq});  // INT, conforming, bus 0
  add({4, 3, 0, 0, 0, 0, 0xff, 0});  // ExtINT -> LINT0 of all
  add({4, 1, 0, 0, 0, 0, 0xff, 1});  // NMI -> LINT1 of all
  count += 2;
  const uint16_t len = static_cast<uint16_t>(t.size());
  std::memcpy(&t[0], "PCMP", 4);
  std::memcpy(&t[4], &len, 2);
  t[6] = 4;  // spec 1.4
  std::memcpy(&t[8], "HVRUN   ", 8);
  std::memcpy(&t[16], "MICROVM     ", 12);
  std::memcpy(&t[34], &count, 2);
  const uint32_t lapic = 0xfee00000;
  std::memcpy(&t[36], &lapic, 4);
  uint8_t sum = 0;
  for (uint8_t b : t) sum = static_cast<uint8_t>(sum + b);
  t[7] = static_cast<uint8_t>(-sum);

  uint8_t fp[16] = {'_', 'M', 'P', '_'};
  const uint32_t table = static_cast<uint32_t>(kMpTableAddr + 16);
  std::memcpy(&fp[4], &table, 4);
  fp[8] = 1;  // length in 16-byte units
  fp[9] = 4;
  uint8_t fsum = 0;
  for (uint8_t b : fp) fsum = static_cast<uint8_t>(fsum + b);
  fp[10] = static_cast<uint8_t>(-fsum);
  if (16 + t.size() > 0xa0000 - kMpTableAddr) throw Error("too many vCPUs for the MP table");
  mem.write(kMpTableAddr, fp, 16);
  mem.write(kMpTableAddr + 16, t.data(), t.size());
}

void setup_boot_vcpu(Vcpu& vcpu, const GuestMemory& mem, const BootEntry& e) {
  (void)mem;
  kvm_sregs s = vcpu.sregs();
  kvm_segment code{};
  code.base = 0;
  code.limit = 0xffffffff;
  code.present = 1;
  code.s = 1;
  code.g = 1;
  code.type = 11;  // execute/read, accessed
  kvm_segment data = code;
  data.type = 3;  // read/write, accessed
  data.db = 1;
  data.selector = 0x18;
  if (e.mode == BootEntry::Mode::Long64) {
    code.selector = 0x10;
    code.l = 1;
    s.cr3 = kPml4Addr;
    s.cr4 = 0x20;  // PAE
    s.cr0 = 0x80000011;  // PG | ET | PE
    s.efer = 0x500;  // LME | LMA
  } else {
    code.selector = 0x08;
    code.db = 1;
    s.cr0 = 0x11;  // ET | PE
    s.cr4 = 0;
    s.efer = 0;
  }
  s.cs = code;
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.gdt.base = kGdtAddr;
  s.gdt.limit = 5 * 8 - 1;
  s.idt.base = 0;
  s.idt.limit = 0;
  kvm_segment tr{};
  tr.selector = 0x20;
  tr.limit = 0x67;
  tr.type = 11;  // busy 32/64-bit TSS
  tr.present = 1;
  s.tr = tr;
  vcpu.set_sregs(s);

  kvm_regs r{};
  r.rflags = 2;
  r.rip = e.rip;
  r.rsi = e.rsi;
  r.rbx = e.rbx;
  r.rsp = e.rsp;
  vcpu.set_regs(r);
}

CpuidTable cpuid_for_vcpu(const CpuidTable& supported, unsigned id, unsigned vcpus, const CpuidExtras& extras) {
  CpuidTable t = supported;
  for (auto& e : t.entries) {
    if (e.function == 1) {
      e.ebx = (e.ebx & 0x0000ffff) | (std::min(vcpus, 255u) << 16) | (id << 24);
      e.ecx |= 1u << 31;  // running under a hypervisor
      if (vcpus > 1) e.edx |= 1u << 28;  // HTT: the count in ebx is valid
      if (extras.tsc_deadline) e.ecx |= 1u << 24;  // TSC-deadline LAPIC timer mode
    } else if (e.function == 0xb || e.function == 0x1f) {
      e.edx = id;
    }
  }
  return t;
}

}  // namespace hvrun::vmm
