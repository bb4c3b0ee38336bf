#include "vmm/p9_server.hpp"

#include <sys/stat.h>

#include <cerrno>

#include "util/error.hpp"

namespace hvrun::vmm {

struct P9Server::Impl {
  std::string root;
  bool readonly = false;
  uint32_t msize = kMaxMsize;
};

P9Server::P9Server(const std::string& root, bool readonly) : impl_(std::make_unique<Impl>()) {
  struct stat st{};
  check_sys(::stat(root.c_str(), &st), "stat 9p share", root);
  if (!S_ISDIR(st.st_mode)) throw Error("9p share " + root + " is not a directory");
  impl_->root = root;
  impl_->readonly = readonly;
}

P9Server::~P9Server() = default;

std::vector<uint8_t> P9Server::handle(std::span<const uint8_t> request) {
  // Stub: Rlerror EOPNOTSUPP for everything.
  uint16_t tag = request.size() >= 7 ? static_cast<uint16_t>(request[5] | request[6] << 8) : 0xffff;
  std::vector<uint8_t> r(11);
  uint32_t size = 11, err = EOPNOTSUPP;
  for (int i = 0; i < 4; ++i) r[i] = static_cast<uint8_t>(size >> (8 * i));
  r[4] = 7;
  r[5] = static_cast<uint8_t>(tag);
  r[6] = static_cast<uint8_t>(tag >> 8);
  for (int i = 0; i < 4; ++i) r[7 + i] = static_cast<uint8_t>(err >> (8 * i));
  return r;
}

void P9Server::reset() { impl_->msize = kMaxMsize; }
uint32_t P9Server::msize() const { return impl_->msize; }
size_t P9Server::fid_count() const { return 0; }

}  // namespace hvrun::vmm
