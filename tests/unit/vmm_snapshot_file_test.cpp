// The snapshot file (vmm/snapshot_file.hpp): what is written reads back,
// memory maps copy-on-write, and a file that is truncated anywhere, has any
// header or state byte flipped, comes from another CPU, host kernel or
// hvrun, or has a hostile section table is refused with a reason, never
// half read.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <dirent.h>
#include <fstream>

#include "tests/unit/image_test_util.hpp"
#include "util/error.hpp"
#include "vmm/snapshot_file.hpp"

namespace hvrun::vmm::snapshot {
namespace {

Origin test_origin() { return {"0.1.0", "GenuineTest family 6 model 85 stepping 7 (Test CPU)", "6.1.0-test"}; }

class SnapshotFile : public ::testing::Test {
 protected:
  void SetUp() override {
    mem.resize(4 * kPageSize);
    for (size_t i = 0; i < mem.size(); ++i) mem[i] = char(i * 31 + i / 4096);
  }
  // A snapshot with a config, two vCPUs, a device and 4 pages of memory.
  void write_sample() {
    Writer w(path, test_origin());
    w.add(SectionType::Config, 0, "{\"mem\":16384}");
    w.add(SectionType::Vcpu, 0, std::string(1000, 'a'));
    w.add(SectionType::Vcpu, 1, std::string(1000, 'b'));
    w.add(SectionType::Device, 3, std::string("queue\0index", 11));
    w.add_memory(mem.data(), mem.size());
    w.finish();
  }
  std::string file() {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }
  void put(const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << bytes;
  }
  // Open's refusal, "" if it opened.
  std::string refusal(const Origin& here = test_origin()) {
    try {
      Reader::open(path, here);
      return "";
    } catch (const Error& e) {
      return e.what();
    }
  }

  image::testing::Tmp tmp;
  std::string path = tmp.path + "/vm.snap";
  std::string mem;
};

TEST_F(SnapshotFile, WhatIsWrittenReadsBackAndMemoryMapsCopyOnWrite) {
  write_sample();
  Reader r = Reader::open(path, test_origin());
  EXPECT_EQ(r.format_version(), kFormatVersion);
  EXPECT_EQ(r.origin().cpu, test_origin().cpu);
  ASSERT_EQ(r.sections().size(), 5u);
  ASSERT_TRUE(r.find(SectionType::Vcpu, 1));
  EXPECT_EQ(r.read(*r.find(SectionType::Vcpu, 1)), std::string(1000, 'b'));
  EXPECT_EQ(r.read(*r.find(SectionType::Device, 3)), std::string("queue\0index", 11));
  EXPECT_EQ(r.find(SectionType::Vcpu, 2), nullptr);
  const Section* m = r.memory();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->offset % kPageSize, 0u);
  EXPECT_EQ(m->length, mem.size());
  EXPECT_EQ(m->offset + m->length, r.file_size());
  EXPECT_NO_THROW(r.verify_memory());
  void* p = ::mmap(nullptr, m->length, PROT_READ | PROT_WRITE, MAP_PRIVATE, r.fd(), off_t(m->offset));
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_EQ(std::memcmp(p, mem.data(), mem.size()), 0);
  static_cast<char*>(p)[100] = 'X';  // a clone's write stays its own
  ::munmap(p, m->length);
  EXPECT_NO_THROW(Reader::open(path, test_origin()).verify_memory());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "guest memory is the tenant's";
}

TEST_F(SnapshotFile, AWriteThatDoesNotFinishLeavesNoFileBehind) {
  {
    Writer w(path, test_origin());
    w.add(SectionType::Config, 0, "x");
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  DIR* d = ::opendir(tmp.path.c_str());
  ASSERT_TRUE(d);
  int entries = 0;
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) ++entries;
  ::closedir(d);
  EXPECT_EQ(entries, 0);
}

TEST_F(SnapshotFile, TheWriterRefusesAShapeTheReaderWouldRefuse) {
  Writer w(path, test_origin());
  w.add(SectionType::Vcpu, 0, "a");
  EXPECT_THROW(w.add(SectionType::Vcpu, 0, "again"), Error);
  EXPECT_THROW(w.add(SectionType::Memory, 0, "x"), Error);
  EXPECT_THROW(w.add(SectionType::Device, 0, std::string(kMaxStateSection + 1, 'x')), Error);
  EXPECT_THROW(w.add_memory(mem.data(), 100), Error);
  w.add_memory(mem.data(), kPageSize);
  EXPECT_THROW(w.add(SectionType::Clock, 0, "late"), Error);
  EXPECT_THROW(w.add_memory(mem.data(), kPageSize), Error);
  EXPECT_THROW(Writer(path, Origin{std::string(300, 'v'), "c", "k"}), Error);
}

TEST_F(SnapshotFile, ATruncatedFileIsRefusedWhereverItIsCut) {
  write_sample();
  const std::string whole = file();
  for (size_t cut : {size_t(0), size_t(7), size_t(100), kHeaderSize - 1, kHeaderSize, kHeaderSize + 500,
                     kHeaderSize + 2100, whole.size() - kPageSize, whole.size() - 1}) {
    put(whole.substr(0, cut));
    std::string why = refusal();
    EXPECT_NE(why, "") << "cut at " << cut;
    EXPECT_NE(why.find(path), std::string::npos) << why;
    EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  }
  put(whole.substr(0, 100));
  EXPECT_NE(refusal().find("truncated"), std::string::npos) << refusal();
  put(whole.substr(0, whole.size() - 1));
  EXPECT_NE(refusal().find("ends past the file's end"), std::string::npos) << refusal();
}

TEST_F(SnapshotFile, AnyFlippedByteInTheHeaderOrStateIsRefused) {
  write_sample();
  const std::string whole = file();
  const size_t state_end = Reader::open(path, test_origin()).memory()->offset;
  for (size_t at = 0; at < state_end; at += (at < 256 ? 1 : 97)) {
    std::string bad = whole;
    bad[at] = char(bad[at] ^ 0x20);
    put(bad);
    std::string why = refusal();
    // Padding between the last state section and the memory is covered by
    // no CRC (it is never read): a flip there changes nothing restored.
    const bool padding = at >= kHeaderSize + 13 + 2000 + 11 && at < state_end;
    if (padding) continue;
    EXPECT_NE(why, "") << "flipped byte " << at << " was not noticed";
  }
  std::string bad = whole;
  bad[kHeaderSize + 20] ^= 1;  // a vCPU's state
  put(bad);
  EXPECT_NE(refusal().find("corrupt (CRC mismatch)"), std::string::npos) << refusal();
}

TEST_F(SnapshotFile, CorruptMemoryIsFoundByVerifyNotByEveryRestore) {
  write_sample();
  std::string bad = file();
  bad[bad.size() - 10] ^= 1;
  put(bad);
  Reader r = Reader::open(path, test_origin());
  try {
    r.verify_memory();
    ADD_FAILURE() << "verify_memory passed a corrupt memory section";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("memory section is corrupt"), std::string::npos) << e.what();
  }
}

TEST_F(SnapshotFile, ASnapshotFromAnotherCpuKernelOrHvrunIsRefusedSayingWhich) {
  write_sample();
  Origin o = test_origin();
  o.cpu = "AuthenticAMD family 25 model 1 stepping 1 (Other)";
  EXPECT_NE(refusal(o).find("taken on CPU 'GenuineTest family 6 model 85 stepping 7 (Test CPU)'; this host's is "
                            "'AuthenticAMD"),
            std::string::npos)
      << refusal(o);
  o = test_origin();
  o.host_kernel = "6.18.0";
  EXPECT_NE(refusal(o).find("taken on host kernel 6.1.0-test; this host runs 6.18.0"), std::string::npos) << refusal(o);
  o = test_origin();
  o.vmm_version = "0.2.0";
  EXPECT_NE(refusal(o).find("taken by hvrun 0.1.0; this is hvrun 0.2.0"), std::string::npos) << refusal(o);
  Origin here = Origin::here();
  EXPECT_NE(here.cpu.find(" family "), std::string::npos) << here.cpu;
  EXPECT_FALSE(here.host_kernel.empty());
  EXPECT_FALSE(here.vmm_version.empty());
}

TEST_F(SnapshotFile, OtherFilesAndOtherFormatVersionsAreRefused) {
  put(std::string(8192, '\0'));
  EXPECT_NE(refusal().find("not an hvrun snapshot"), std::string::npos) << refusal();
  put("#!/bin/sh\n");
  EXPECT_NE(refusal().find("not an hvrun snapshot"), std::string::npos) << refusal();
  write_sample();
  std::string v2 = file();
  v2[8] = 2;
  put(v2);
  EXPECT_NE(refusal().find("snapshot format version 2; this hvrun reads version 1"), std::string::npos) << refusal();
  EXPECT_THROW(Reader::open(tmp.path + "/none", test_origin()), Error);
  EXPECT_NE(refusal().find(path), std::string::npos);
  ::unlink(path.c_str());
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  EXPECT_NE(refusal(), "");
}

// Rewrites the section table of a written sample (and the header's CRC),
// as a hostile file would.
class HostileTable : public SnapshotFile {
 protected:
  struct Entry {
    uint32_t type, index;
    uint64_t offset, length;
    uint32_t crc;
  };
  std::string with(const std::vector<Entry>& entries) {
    write_sample();
    std::string f = file();
    // magic, version, count, then three u16-prefixed strings
    size_t at = 16;
    for (int i = 0; i < 3; ++i) at += 2 + (uint8_t(f[at]) | uint8_t(f[at + 1]) << 8);
    auto u32 = [&](size_t o, uint32_t v) { std::memcpy(&f[o], &v, 4); };
    auto u64 = [&](size_t o, uint64_t v) { std::memcpy(&f[o], &v, 8); };
    u32(12, uint32_t(entries.size()));
    for (const auto& e : entries) {
      u32(at, e.type);
      u32(at + 4, e.index);
      u64(at + 8, e.offset);
      u64(at + 16, e.length);
      u32(at + 24, e.crc);
      at += 32;
    }
    uLong crc = ::crc32(0L, reinterpret_cast<const Bytef*>(f.data()), uInt(kHeaderSize - 4));
    u32(kHeaderSize - 4, uint32_t(crc));
    return f;
  }
  std::string refused_with(const std::vector<Entry>& entries) {
    put(with(entries));
    return refusal();
  }
};

TEST_F(HostileTable, SectionsOutsideTheFileOverlappingRepeatedOrUnknownAreRefused) {
  const uint64_t H = kHeaderSize;
  const uint64_t huge = ~uint64_t(0) - 10;
  EXPECT_NE(refused_with({{1, 0, H, huge, 0}}).find("ends past the file's end"), std::string::npos);
  EXPECT_NE(refused_with({{1, 0, huge, 100, 0}}).find("ends past the file's end"), std::string::npos);
  EXPECT_NE(refused_with({{1, 0, 10, 100, 0}}).find("ends past the file's end"), std::string::npos)
      << "a section inside the header";
  EXPECT_NE(refused_with({{1, 0, H, 100, 0}, {2, 0, H + 50, 10, 0}}).find("overlap"), std::string::npos);
  EXPECT_NE(refused_with({{2, 0, H, 10, 0}, {2, 0, H + 10, 10, 0}}).find("two vcpu 0 sections"), std::string::npos);
  EXPECT_NE(refused_with({{99, 0, H, 10, 0}}).find("unknown section type 99"), std::string::npos);
  EXPECT_NE(refused_with({{0, 0, H, 10, 0}}).find("unknown section type 0"), std::string::npos);
  EXPECT_NE(refused_with({{7, 0, H + 1, kPageSize, 0}}).find("page-aligned"), std::string::npos);
  EXPECT_NE(refused_with({{7, 0, H, kPageSize, 0}}).find("does not end the file"), std::string::npos);
  std::vector<Entry> many(200, Entry{1, 0, H, 1, 0});
  EXPECT_NE(refused_with(many).find("sections (at most 128)"), std::string::npos);
  EXPECT_NE(refused_with({{1, 0, H, 13, 0}}).find("corrupt (CRC mismatch)"), std::string::npos)
      << "a table that is consistent but whose CRC is wrong";
}

}  // namespace
}  // namespace hvrun::vmm::snapshot

namespace hvrun::vmm::snapshot {
namespace {

// Guest RAM a guest never touched is zeros: those pages stay holes.
TEST(SnapshotFileMemory, ZeroPagesAreHolesThatReadBackAsZerosAndTheCrcCoversThem) {
  image::testing::Tmp tmp;
  const std::string path = tmp.path + "/sparse.snap";
  std::vector<char> mem(256 * kPageSize, 0);
  mem[3 * kPageSize + 7] = 'x';
  for (size_t i = 0; i < kPageSize; ++i) mem[200 * kPageSize + i] = char(i);
  {
    Writer w(path, test_origin());
    w.add(SectionType::Config, 0, "{}");
    w.add_memory(mem.data(), mem.size());
    w.finish();
  }
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const Reader r = Reader::open(path, test_origin());
  const Section* m = r.memory();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(uint64_t(st.st_size), m->offset + mem.size());
  EXPECT_LT(uint64_t(st.st_blocks) * 512, mem.size() / 4) << "the untouched pages take disk space";
  r.verify_memory();
  std::vector<char> back(mem.size());
  ASSERT_EQ(::pread(r.fd(), back.data(), back.size(), off_t(m->offset)), ssize_t(back.size()));
  EXPECT_EQ(back, mem);
}

}  // namespace
}  // namespace hvrun::vmm::snapshot
