// A microVM snapshot file as a restore reads it (vmm/snapshot_file.hpp):
// the header, origin and section table, each state section, the memory
// section's verification. The input is the file itself; its origin is the
// fixed one the seeds were written with, so mutations get past the origin
// check. Whatever the bytes, open() ends in a Reader or an hvrun::Error;
// an opened file's sections lie inside it, after the header, apart, and
// each reads back with its CRC.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"
#include "vmm/snapshot_file.hpp"

using namespace hvrun;
using namespace hvrun::vmm::snapshot;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fuzz::ScratchDir dir("snapshot");
  static const Origin here{"0.1.0", "fuzz cpu", "fuzz kernel"};
  const std::string path = dir.path() + "/vm.snap";
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
  }
  try {
    Reader r = Reader::open(path, here);
    for (const Section& s : r.sections()) {
      if (s.offset < kHeaderSize || s.offset + s.length > r.file_size() || s.offset + s.length < s.offset)
        fuzz::invariant_failed("an accepted section lies outside the file");
      if (s.type != SectionType::Memory && r.read(s).size() != s.length)
        fuzz::invariant_failed("a state section read back at another length");
    }
    if (const Section* m = r.memory()) {
      if (m->offset % kPageSize || m->length % kPageSize) fuzz::invariant_failed("memory is not page-aligned");
      r.verify_memory();
    }
  } catch (const Error& e) {
    if (fuzz::verbose()) std::fprintf(stderr, "refused: %s\n", e.what());
  }
  return 0;
}
