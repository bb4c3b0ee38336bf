// The file a microVM snapshot lives in (hvrun snapshot create/restore):
// a versioned header naming where it was taken, a table of sections with
// their lengths and CRC-32s, the state sections (vCPUs, interrupt
// controller, clock, devices: each a blob its owner encodes), and guest
// memory last, page-aligned so that restores map it copy-on-write
// (MAP_PRIVATE: clones share the page cache, only pages a clone writes are
// its own).
//
//   offset 0     header (kHeaderSize bytes): magic "HVRUNSNP", format
//                version, origin (VMM version, CPU, host kernel), section
//                table, and the header's own CRC-32 in its last 4 bytes
//   ...          state sections, back to back
//   page-aligned the memory section (at most one), up to the file's end
//
// A restore reads the file as hostile input: Reader::open refuses, with
// one line saying why, a file that is not a snapshot, of another format
// version, taken on another CPU model, host kernel or VMM version,
// truncated, or whose header or state sections fail their CRC; sections
// that overlap, leave the file or repeat are refused too. Nothing is
// restored from a file that open() refused. The memory section's CRC
// covers gigabytes: it is checked by verify_memory() (`hvrun snapshot
// inspect --verify`), not on every restore, which maps it lazily.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/fd.hpp"

namespace hvrun::vmm::snapshot {

constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = 4096;
constexpr size_t kPageSize = 4096;
constexpr size_t kMaxSections = 128;
// Any one state section (a device's registers, a vCPU's XSAVE area): more
// is a hostile or corrupt file.
constexpr uint64_t kMaxStateSection = uint64_t(16) << 20;

// What a snapshot must match to be restored on this host.
struct Origin {
  std::string vmm_version;  // hvrun's version and the snapshot code's
  std::string cpu;          // vendor, family, model, stepping and model name
  std::string host_kernel;  // uname -r: KVM's state layout follows it
  // This host, this build; read once (from /proc/cpuinfo, uname) and kept.
  // Throws Error when /proc/cpuinfo cannot be read.
  static Origin here();
};

enum class SectionType : uint32_t {
  Config = 1,   // the VM's shape: RAM size, vCPUs, device plan
  Vcpu = 2,     // index: the vCPU
  IrqChip = 3,  // index: the chip (PIC master, slave, IOAPIC)
  Pit = 4,
  Clock = 5,
  Device = 6,   // index: the device's slot
  Memory = 7,   // guest RAM, page-aligned, last
};
const char* section_name(SectionType t);

struct Section {
  SectionType type{};
  uint32_t index = 0;
  uint64_t offset = 0;  // from the file's start
  uint64_t length = 0;
  uint32_t crc = 0;     // CRC-32 of the section's bytes
};

// Writes a snapshot to a temporary file beside `path` and renames it into
// place on finish(): an interrupted write never leaves a half snapshot
// under the name. State sections first, in any order; memory last.
class Writer {
 public:
  Writer(std::string path, Origin origin);
  // Writes into `fd`, an open regular file that the caller keeps (a jailed
  // VMM opens no files): emptied first, written, fsynced by finish(); an
  // unfinished one has no header, so no reader takes it. `name` is for
  // errors.
  Writer(int fd, std::string name, Origin origin);
  ~Writer();  // without finish(): the temporary file is removed
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void add(SectionType type, uint32_t index, std::string_view bytes);
  // Guest RAM from `mem` (len bytes, a multiple of kPageSize).
  void add_memory(const void* mem, uint64_t len);
  void finish();

 private:
  std::string path_, tmp_;
  Origin origin_;
  UniqueFd fd_;  // the temporary file; empty for a borrowed fd
  int out_ = -1;
  uint64_t end_ = kHeaderSize;
  std::vector<Section> sections_;
  bool memory_ = false, done_ = false;
};

class Reader {
 public:
  // Opens and checks `path` against `here` (see above); throws Error with
  // one line naming the file and the reason.
  static Reader open(const std::string& path, const Origin& here);

  const Origin& origin() const { return origin_; }
  uint32_t format_version() const { return version_; }
  const std::vector<Section>& sections() const { return sections_; }
  const Section* find(SectionType type, uint32_t index = 0) const;
  // A state section's bytes, checked against its CRC again (the file may
  // have changed since open()).
  std::string read(const Section& s) const;
  // The memory section, if any; its offset is page-aligned.
  const Section* memory() const;
  // Reads guest memory through and checks its CRC (slow: the whole RAM).
  void verify_memory() const;
  // The open file, for mmap(MAP_PRIVATE) of the memory section.
  int fd() const { return fd_.get(); }
  uint64_t file_size() const { return size_; }

 private:
  std::string path_;
  UniqueFd fd_;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  Origin origin_;
  std::vector<Section> sections_;
};

}  // namespace hvrun::vmm::snapshot
