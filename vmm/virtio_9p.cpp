#include "vmm/virtio_9p.hpp"

#include <algorithm>
#include <cstring>

namespace hvrun::vmm {

namespace {
bool valid_tag(const std::string& tag) {
  if (tag.empty() || tag.size() > Virtio9p::kMaxTagLen) return false;
  return std::all_of(tag.begin(), tag.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}
}  // namespace

Virtio9p::Virtio9p(const std::string& root, const std::string& tag, bool readonly)
    : root_(root), tag_(tag), readonly_(readonly) {
  if (!valid_tag(tag)) throw Error("9p mount tag '" + tag + "' must be 1 to 31 characters of [A-Za-z0-9_-]");
  server_ = std::make_unique<P9Server>(root, readonly);
}

uint64_t Virtio9p::features() const { return kVirtio9pFMountTag | kVirtioRingFIndirectDesc; }

void Virtio9p::read_config(uint32_t offset, uint8_t* data, unsigned len) {
  for (unsigned i = 0; i < len; ++i) {
    uint64_t o = uint64_t{offset} + i;
    uint8_t b = 0;
    if (o == 0) b = static_cast<uint8_t>(tag_.size());
    else if (o == 1) b = static_cast<uint8_t>(tag_.size() >> 8);
    else if (o - 2 < tag_.size()) b = static_cast<uint8_t>(tag_[o - 2]);
    data[i] = b;
  }
}

bool Virtio9p::process(unsigned, std::vector<Virtqueue>&, const GuestMemory&) { return false; }

void Virtio9p::reset() { server_->reset(); }

}  // namespace hvrun::vmm
