// 9P2000.L message parsing through the real server (vmm/p9_server.cpp) on a
// scratch share: the input is a stream of T-messages, each taking the
// length its size[4] field gives (the rest of the input when that is
// shorter than 4 or past the end). The share is rebuilt before each input
// (a file, a directory with a file, a symlink) and a fresh server made, so
// inputs do not see each other's changes. Every reply must be a well-formed
// R-message: size[4] equal to its length, at least 7 bytes, the request's
// tag when the request had one.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <string>

#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"
#include "vmm/p9_server.hpp"

using namespace hvrun;

namespace {

void build_share(const fuzz::ScratchDir& share) {
  share.clear();
  const std::string& r = share.path();
  std::ofstream(r + "/file") << "hello from the share\n";
  ::mkdir((r + "/dir").c_str(), 0755);
  std::ofstream(r + "/dir/inner") << "inner\n";
  if (::symlink("file", (r + "/link").c_str()) != 0) std::abort();
  if (::symlink("../../etc/passwd", (r + "/dir/escape").c_str()) != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir share("p9");
  build_share(share);
  // Small bounds: a few fids and paths are enough to reach every handler.
  vmm::P9Server server(share.path(), false, 64, 64 * 1024);
  size_t off = 0;
  for (int n = 0; n < 64 && off < size; ++n) {
    uint32_t len = 0;
    if (size - off >= 4) std::memcpy(&len, data + off, 4);
    if (len < 4 || len > size - off) len = static_cast<uint32_t>(size - off);
    std::span<const uint8_t> req(data + off, len);
    off += len;
    auto reply = server.handle(req);
    if (fuzz::verbose() && reply.size() >= 11 && reply[4] == 7) {
      uint32_t err;
      std::memcpy(&err, &reply[7], 4);
      std::fprintf(stderr, "fuzz: 9p message %d (type %u) got Rlerror %u\n", n, req.size() > 4 ? req[4] : 0, err);
    }
    uint32_t rlen = 0;
    if (reply.size() < 7) fuzz::invariant_failed("a reply shorter than 7 bytes");
    std::memcpy(&rlen, reply.data(), 4);
    if (rlen != reply.size()) fuzz::invariant_failed("a reply whose size[4] is not its length");
    if (reply.size() > server.msize() && server.msize() >= vmm::P9Server::kMinMsize)
      fuzz::invariant_failed("a reply longer than the negotiated msize");
    if (req.size() >= 7 && std::memcmp(&reply[5], &req[5], 2) != 0)
      fuzz::invariant_failed("a reply that does not carry its request's tag");
  }
  return 0;
}
