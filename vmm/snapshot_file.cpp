#include "vmm/snapshot_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <fstream>
#include <map>

#include "util/error.hpp"

#ifndef HVRUN_VERSION
#define HVRUN_VERSION "unknown"
#endif

namespace hvrun::vmm::snapshot {
namespace {

constexpr char kMagic[8] = {'H', 'V', 'R', 'U', 'N', 'S', 'N', 'P'};
constexpr size_t kEntrySize = 32;     // type, index, offset, length, crc, reserved
constexpr size_t kMaxOriginText = 256;  // each origin string

uint32_t crc_of(const void* p, size_t n, uint32_t crc = 0) {
  // zlib's crc32 takes a uInt length: feed it in pieces.
  const auto* b = static_cast<const Bytef*>(p);  // zlib's initial CRC is 0
  while (n > 0) {
    const uInt k = static_cast<uInt>(std::min<size_t>(n, size_t(1) << 30));
    crc = static_cast<uint32_t>(::crc32(crc, b, k));
    b += k;
    n -= k;
  }
  return crc;
}

// Little-endian fields of the header.
struct Out {
  std::string buf;
  void u16(uint16_t v) { for (int i = 0; i < 2; ++i) buf.push_back(char(v >> (8 * i))); }
  void u32(uint32_t v) { for (int i = 0; i < 4; ++i) buf.push_back(char(v >> (8 * i))); }
  void u64(uint64_t v) { for (int i = 0; i < 8; ++i) buf.push_back(char(v >> (8 * i))); }
  void text(const std::string& s) {
    u16(uint16_t(s.size()));
    buf += s;
  }
};
struct In {
  std::string_view buf;
  size_t at = 0;
  bool ok = true;
  uint64_t num(int bytes) {
    if (at + size_t(bytes) > buf.size()) {
      ok = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(buf[at + size_t(i)])) << (8 * i);
    at += size_t(bytes);
    return v;
  }
  std::string text() {
    size_t n = size_t(num(2));
    if (!ok || n > kMaxOriginText || at + n > buf.size()) {
      ok = false;
      return "";
    }
    std::string s(buf.substr(at, n));
    at += n;
    return s;
  }
};

void pwrite_all(int fd, const void* p, size_t n, uint64_t off, const std::string& path) {
  const auto* b = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, b, n, off_t(off));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw_sys("write snapshot", path);
    b += w;
    n -= size_t(w);
    off += uint64_t(w);
  }
}

bool pread_all(int fd, void* p, size_t n, uint64_t off) {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = ::pread(fd, b, n, off_t(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    b += r;
    n -= size_t(r);
    off += uint64_t(r);
  }
  return true;
}

std::string first_cpuinfo(const std::string& all, const std::string& key) {
  size_t at = 0;
  while (at < all.size()) {
    size_t eol = all.find('\n', at);
    if (eol == std::string::npos) eol = all.size();
    std::string_view line(all.data() + at, eol - at);
    if (line.rfind(key, 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string v(line.substr(colon + 1));
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
    at = eol + 1;
  }
  return "?";
}

std::string describe(const Section& s) {
  std::string d = section_name(s.type);
  if (s.type == SectionType::Vcpu || s.type == SectionType::Device || s.type == SectionType::IrqChip)
    d += " " + std::to_string(s.index);
  return d;
}

}  // namespace

const char* section_name(SectionType t) {
  switch (t) {
    case SectionType::Config: return "config";
    case SectionType::Vcpu: return "vcpu";
    case SectionType::IrqChip: return "irqchip";
    case SectionType::Pit: return "pit";
    case SectionType::Clock: return "clock";
    case SectionType::Device: return "device";
    case SectionType::Memory: return "memory";
  }
  return "unknown";
}

Origin Origin::here() {
  // Read once and kept: a jailed VMM (vmm/jail.hpp) has no /proc/cpuinfo
  // (hvrun-vmm calls this before it jails itself).
  static std::mutex mu;
  static std::optional<Origin> cached;
  std::lock_guard lock(mu);
  if (cached) return *cached;
  Origin o;
  o.vmm_version = HVRUN_VERSION;
  std::ifstream f("/proc/cpuinfo");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (all.find("vendor_id") == std::string::npos) throw Error("snapshot: cannot read this host's CPU from /proc/cpuinfo");
  o.cpu = first_cpuinfo(all, "vendor_id") + " family " + first_cpuinfo(all, "cpu family") + " model " +
          first_cpuinfo(all, "model\t") + " stepping " + first_cpuinfo(all, "stepping") + " (" +
          first_cpuinfo(all, "model name") + ")";
  if (o.cpu.size() > kMaxOriginText) o.cpu.resize(kMaxOriginText);
  utsname u{};
  o.host_kernel = ::uname(&u) == 0 ? u.release : "?";
  cached = o;
  return o;
}

// ---- Writer ----

Writer::Writer(std::string path, Origin origin) : path_(std::move(path)), origin_(std::move(origin)) {
  for (const std::string* s : {&origin_.vmm_version, &origin_.cpu, &origin_.host_kernel})
    if (s->size() > kMaxOriginText) throw Error("snapshot origin text longer than 256 bytes: " + *s);
  tmp_ = path_ + ".partial-XXXXXX";
  fd_.reset(::mkostemp(tmp_.data(), O_CLOEXEC));
  if (!fd_) throw_sys("create snapshot file", tmp_);
  out_ = fd_.get();
  ::fchmod(out_, 0600);  // guest memory: the tenant's secrets
}

Writer::Writer(int fd, std::string name, Origin origin) : path_(std::move(name)), origin_(std::move(origin)), out_(fd) {
  for (const std::string* s : {&origin_.vmm_version, &origin_.cpu, &origin_.host_kernel})
    if (s->size() > kMaxOriginText) throw Error("snapshot origin text longer than 256 bytes: " + *s);
  tmp_ = path_;
  if (::ftruncate(out_, 0) < 0) throw_sys("empty the snapshot file", path_);
}

Writer::~Writer() {
  if (!done_ && fd_) ::unlink(tmp_.c_str());
  // A borrowed fd keeps what was written, without a header: no snapshot.
}

void Writer::add(SectionType type, uint32_t index, std::string_view bytes) {
  if (memory_) throw Error("snapshot: the memory section must come last");
  if (type == SectionType::Memory) throw Error("snapshot: guest memory goes in with add_memory");
  if (bytes.size() > kMaxStateSection)
    throw Error(std::string("snapshot: ") + section_name(type) + " section of " + std::to_string(bytes.size()) +
                " bytes (at most 16 MiB)");
  if (sections_.size() >= kMaxSections) throw Error("snapshot: more than 128 sections");
  for (const auto& s : sections_)
    if (s.type == type && s.index == index) throw Error(std::string("snapshot: two ") + describe(s) + " sections");
  pwrite_all(out_, bytes.data(), bytes.size(), end_, tmp_);
  sections_.push_back({type, index, end_, bytes.size(), crc_of(bytes.data(), bytes.size())});
  end_ += bytes.size();
}

void Writer::add_memory(const void* mem, uint64_t len) {
  if (memory_) throw Error("snapshot: two memory sections");
  if (len == 0 || len % kPageSize) throw Error("snapshot: guest memory of " + std::to_string(len) + " bytes is not whole pages");
  if (sections_.size() >= kMaxSections) throw Error("snapshot: more than 128 sections");
  const uint64_t off = (end_ + kPageSize - 1) / kPageSize * kPageSize;
  // Pages that are all zeros (most of a guest's RAM it never touched) stay
  // holes in a sparse file: they read back as zeros, and cost neither the
  // write nor the disk space.
  if (::ftruncate(out_, off_t(off + len)) != 0) throw_sys("size snapshot file", tmp_);
  const auto* p = static_cast<const uint8_t*>(mem);
  auto zero_page = [](const uint8_t* page) {
    uint64_t acc = 0;
    for (size_t i = 0; i < kPageSize; i += 8) {
      uint64_t v;
      std::memcpy(&v, page + i, 8);
      acc |= v;
    }
    return acc == 0;
  };
  for (uint64_t at = 0; at < len;) {
    if (zero_page(p + at)) {
      at += kPageSize;
      continue;
    }
    uint64_t run = at + kPageSize;
    while (run < len && run - at < (uint64_t(8) << 20) && !zero_page(p + run)) run += kPageSize;
    pwrite_all(out_, p + at, size_t(run - at), off + at, tmp_);
    at = run;
  }
  sections_.push_back({SectionType::Memory, 0, off, len, crc_of(mem, size_t(len))});
  end_ = off + len;
  memory_ = true;
}

void Writer::finish() {
  Out h;
  h.buf.append(kMagic, sizeof kMagic);
  h.u32(kFormatVersion);
  h.u32(uint32_t(sections_.size()));
  h.text(origin_.vmm_version);
  h.text(origin_.cpu);
  h.text(origin_.host_kernel);
  for (const auto& s : sections_) {
    h.u32(uint32_t(s.type));
    h.u32(s.index);
    h.u64(s.offset);
    h.u64(s.length);
    h.u32(s.crc);
    h.u32(0);
  }
  if (h.buf.size() > kHeaderSize - 4) throw Error("snapshot: the header does not fit in 4 KiB");
  h.buf.resize(kHeaderSize - 4, '\0');
  h.u32(crc_of(h.buf.data(), h.buf.size()));
  pwrite_all(out_, h.buf.data(), h.buf.size(), 0, tmp_);
  if (::ftruncate(out_, off_t(end_)) < 0) throw_sys("size snapshot file", tmp_);
  if (::fsync(out_) < 0) throw_sys("fsync", tmp_);
  if (fd_ && ::rename(tmp_.c_str(), path_.c_str()) < 0) throw_sys("rename " + tmp_ + " to", path_);
  done_ = true;
}

// ---- Reader ----

Reader Reader::open(const std::string& path, const Origin& here) {
  Reader r;
  r.path_ = path;
  auto fail = [&](const std::string& why) -> Error { return Error("snapshot " + path + ": " + why); };
  r.fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!r.fd_) throw_sys("open snapshot", path);
  struct stat st {};
  if (::fstat(r.fd_.get(), &st) < 0) throw_sys("stat", path);
  if (!S_ISREG(st.st_mode)) throw fail("not a regular file");
  r.size_ = uint64_t(st.st_size);
  std::string head(kHeaderSize, '\0');
  if (r.size_ < kHeaderSize || !pread_all(r.fd_.get(), head.data(), kHeaderSize, 0)) {
    if (pread_all(r.fd_.get(), head.data(), sizeof kMagic, 0) && std::memcmp(head.data(), kMagic, sizeof kMagic) != 0)
      throw fail("not an hvrun snapshot");
    throw fail("truncated: " + std::to_string(r.size_) + " bytes, less than its 4096-byte header");
  }
  if (std::memcmp(head.data(), kMagic, sizeof kMagic) != 0) throw fail("not an hvrun snapshot");
  In in{head};
  in.at = sizeof kMagic;
  r.version_ = uint32_t(in.num(4));
  if (r.version_ != kFormatVersion)
    throw fail("snapshot format version " + std::to_string(r.version_) + "; this hvrun reads version " +
               std::to_string(kFormatVersion));
  In tail{head};
  tail.at = kHeaderSize - 4;
  if (uint32_t(tail.num(4)) != crc_of(head.data(), kHeaderSize - 4)) throw fail("its header is corrupt (CRC mismatch)");
  const uint64_t count = in.num(4);
  r.origin_.vmm_version = in.text();
  r.origin_.cpu = in.text();
  r.origin_.host_kernel = in.text();
  if (!in.ok) throw fail("its header is malformed (origin)");
  if (count > kMaxSections || in.at + count * kEntrySize > kHeaderSize - 4)
    throw fail("its header lists " + std::to_string(count) + " sections (at most " + std::to_string(kMaxSections) + ")");
  // Refused before any section is looked at: its layout may differ here.
  if (r.origin_.vmm_version != here.vmm_version)
    throw fail("taken by hvrun " + r.origin_.vmm_version + "; this is hvrun " + here.vmm_version);
  if (r.origin_.cpu != here.cpu) throw fail("taken on CPU '" + r.origin_.cpu + "'; this host's is '" + here.cpu + "'");
  if (r.origin_.host_kernel != here.host_kernel)
    throw fail("taken on host kernel " + r.origin_.host_kernel + "; this host runs " + here.host_kernel);

  std::map<std::pair<uint32_t, uint32_t>, bool> seen;
  for (uint64_t i = 0; i < count; ++i) {
    Section s;
    const uint32_t type = uint32_t(in.num(4));
    s.index = uint32_t(in.num(4));
    s.offset = in.num(8);
    s.length = in.num(8);
    s.crc = uint32_t(in.num(4));
    (void)in.num(4);
    if (type < uint32_t(SectionType::Config) || type > uint32_t(SectionType::Memory))
      throw fail("unknown section type " + std::to_string(type));
    s.type = SectionType(type);
    if (!seen.emplace(std::make_pair(type, s.index), true).second) throw fail("two " + describe(s) + " sections");
    if (s.offset < kHeaderSize || s.offset > r.size_ || s.length > r.size_ - s.offset)
      throw fail("truncated or corrupt: its " + describe(s) + " section (" + std::to_string(s.length) +
                 " bytes at offset " + std::to_string(s.offset) + ") ends past the file's end (" +
                 std::to_string(r.size_) + " bytes)");
    if (s.type == SectionType::Memory) {
      if (s.offset % kPageSize || s.length == 0 || s.length % kPageSize)
        throw fail("its memory section is not whole, page-aligned pages");
      if (s.offset + s.length != r.size_) throw fail("its memory section does not end the file");
    } else if (s.length > kMaxStateSection) {
      throw fail("its " + describe(s) + " section is " + std::to_string(s.length) + " bytes (at most 16 MiB)");
    }
    r.sections_.push_back(s);
  }
  std::vector<Section> by_offset = r.sections_;
  std::sort(by_offset.begin(), by_offset.end(), [](const Section& a, const Section& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1].offset + by_offset[i - 1].length > by_offset[i].offset)
      throw fail("its " + describe(by_offset[i - 1]) + " and " + describe(by_offset[i]) + " sections overlap");
  for (const auto& s : r.sections_)
    if (s.type != SectionType::Memory) (void)r.read(s);  // every state CRC, before anything is restored
  return r;
}

const Section* Reader::find(SectionType type, uint32_t index) const {
  for (const auto& s : sections_)
    if (s.type == type && s.index == index) return &s;
  return nullptr;
}

const Section* Reader::memory() const { return find(SectionType::Memory, 0); }

std::string Reader::read(const Section& s) const {
  std::string b(size_t(s.length), '\0');
  if (!pread_all(fd_.get(), b.data(), b.size(), s.offset))
    throw Error("snapshot " + path_ + ": truncated: its " + describe(s) + " section cannot be read");
  if (crc_of(b.data(), b.size()) != s.crc) throw Error("snapshot " + path_ + ": its " + describe(s) + " section is corrupt (CRC mismatch)");
  return b;
}

void Reader::verify_memory() const {
  const Section* m = memory();
  if (!m) return;
  std::string buf(size_t(1) << 20, '\0');
  uint32_t crc = 0;
  for (uint64_t at = 0; at < m->length;) {
    const size_t n = size_t(std::min<uint64_t>(buf.size(), m->length - at));
    if (!pread_all(fd_.get(), buf.data(), n, m->offset + at))
      throw Error("snapshot " + path_ + ": truncated: its memory section cannot be read");
    crc = crc_of(buf.data(), n, crc);
    at += n;
  }
  if (crc != m->crc) throw Error("snapshot " + path_ + ": its memory section is corrupt (CRC mismatch)");
}

}  // namespace hvrun::vmm::snapshot
