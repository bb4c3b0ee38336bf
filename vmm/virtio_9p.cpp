#include "vmm/virtio_9p.hpp"

#include <algorithm>
#include <cerrno>
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

bool Virtio9p::process(unsigned queue, std::vector<Virtqueue>& queues, const GuestMemory& mem) {
  Virtqueue& q = queues.at(queue);
  bool used = false;
  while (q.pop(mem, chain_)) {
    // Readable segments first (the T-message), then writable ones.
    uint64_t in = 0, out = 0;
    for (const DescSegment& s : chain_.segs) {
      if (s.device_writable) {
        out += s.len;
      } else {
        if (out) throw VirtioError("virtio-9p request has a readable buffer after a writable one");
        in += s.len;
      }
    }
    if (out == 0) throw VirtioError("virtio-9p request without a writable buffer for the reply");
    if (in > server_->msize())
      throw VirtioError("virtio-9p request of " + std::to_string(in) + " bytes is larger than msize " + std::to_string(server_->msize()));
    req_.resize(in);
    size_t pos = 0;
    for (const DescSegment& s : chain_.segs) {
      if (s.device_writable) break;
      mem.read(s.addr, req_.data() + pos, s.len);
      pos += s.len;
    }
    std::vector<uint8_t> reply = server_->handle(req_);
    if (reply.size() > out) {
      // An Rlerror EMSGSIZE with the same tag: size[4] type[1] tag[2] ecode[4].
      uint8_t tag0 = reply.size() > 6 ? reply[5] : 0xff, tag1 = reply.size() > 6 ? reply[6] : 0xff;
      reply = {11, 0, 0, 0, 7, tag0, tag1, static_cast<uint8_t>(EMSGSIZE), 0, 0, 0};
      if (reply.size() > out) throw VirtioError("virtio-9p reply buffer of " + std::to_string(out) + " bytes cannot hold even an error");
    }
    pos = 0;
    for (const DescSegment& s : chain_.segs) {
      if (!s.device_writable || pos == reply.size()) continue;
      size_t n = std::min<size_t>(s.len, reply.size() - pos);
      mem.write(s.addr, reply.data() + pos, n);
      pos += n;
    }
    q.push_used(mem, chain_.head, static_cast<uint32_t>(reply.size()));
    used = true;
  }
  return used;
}

void Virtio9p::reset() { server_->reset(); }

}  // namespace hvrun::vmm
