#include "vmm/virtio_9p.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "vmm/p9_wire.hpp"
#include "vmm/state_codec.hpp"

namespace hvrun::vmm {

namespace {
bool valid_tag(const std::string& tag) {
  if (tag.empty() || tag.size() > Virtio9p::kMaxTagLen) return false;
  return std::all_of(tag.begin(), tag.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}
// Requests that touch no file data: served in the caller's thread when
// nothing is pending. Reads, writes, fsync, directory listings and
// truncations (a setattr of the size, an open with O_TRUNC), which can take
// long on a big or slow host file system, always go to the worker.
bool quick(const std::vector<uint8_t>& request) {
  auto u32_at = [&](size_t off) -> uint32_t {
    if (off + 4 > request.size()) return 0;
    return uint32_t(request[off]) | uint32_t(request[off + 1]) << 8 | uint32_t(request[off + 2]) << 16 |
           uint32_t(request[off + 3]) << 24;
  };
  if (request.size() < 5) return true;  // malformed: an Rlerror at once
  switch (request[4]) {
    case p9::kTread:
    case p9::kTwrite:
    case p9::kTfsync:
    case p9::kTreaddir:
      return false;
    case p9::kTsetattr:  // fid[4] valid[4] ...
      return !(u32_at(11) & p9::kSetSize);
    case p9::kTlopen:  // fid[4] flags[4]
      return !(u32_at(11) & p9::kDotlTrunc);
    case p9::kTlcreate: {  // fid[4] name[s] flags[4] ...
      if (request.size() < 13) return true;
      const size_t name_len = size_t(request[11]) | size_t(request[12]) << 8;
      return !(u32_at(13 + name_len) & p9::kDotlTrunc);
    }
    default:
      return true;
  }
}

}  // namespace

Virtio9p::Virtio9p(const std::string& root, const std::string& tag, bool readonly, std::function<void()> enter_worker)
    : root_(root), tag_(tag), readonly_(readonly), enter_worker_(std::move(enter_worker)) {
  if (!valid_tag(tag)) throw Error("9p mount tag '" + tag + "' must be 1 to 31 characters of [A-Za-z0-9_-]");
  server_ = std::make_unique<P9Server>(root, readonly);
  msize_ = server_->msize();
  done_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!done_fd_) throw_sys("eventfd for the 9p share " + root);
  worker_ = std::thread([this] { work(); });
}

Virtio9p::~Virtio9p() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
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
  std::vector<Done> done;
  uint64_t epoch;
  {
    std::lock_guard lock(mu_);
    done.swap(done_);
    epoch = epoch_;
  }
  bool used = false;
  for (const Done& d : done) {
    if (d.epoch != epoch) continue;  // from before a reset
    q.push_used(mem, d.head, d.len);
    used = true;
  }
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (pending_ >= kMaxPending) break;  // the rest waits on the ring
    }
    if (!q.pop(mem, chain_)) break;
    // Readable segments first (the T-message), then writable ones.
    uint64_t in = 0, out = 0;
    Job job;
    for (const DescSegment& s : chain_.segs) {
      if (s.device_writable) {
        out += s.len;
        job.reply_segs.push_back(s);
      } else {
        if (out) throw VirtioError("virtio-9p request has a readable buffer after a writable one");
        in += s.len;
      }
    }
    if (out == 0) throw VirtioError("virtio-9p request without a writable buffer for the reply");
    if (out < 11) throw VirtioError("virtio-9p reply buffer of " + std::to_string(out) + " bytes cannot hold even an error");
    if (in > msize_)
      throw VirtioError("virtio-9p request of " + std::to_string(in) + " bytes is larger than msize " + std::to_string(msize_));
    job.request.resize(in);
    size_t pos = 0;
    for (const DescSegment& s : chain_.segs) {
      if (s.device_writable) break;
      mem.read(s.addr, job.request.data() + pos, s.len);
      pos += s.len;
    }
    job.head = chain_.head;
    job.epoch = epoch;
    job.mem = &mem;
    {
      std::unique_lock lock(mu_);
      if (!enter_worker_ && pending_ == 0 && done_.empty() && quick(job.request)) {
        // The worker is idle and every reply of its is on the used ring (so
        // nothing earlier is unanswered: an Rflush never overtakes the reply
        // it flushes) and this is a metadata request: answered here, saving
        // two thread hand-offs.
        lock.unlock();
        std::lock_guard serving(server_mu_);
        q.push_used(mem, job.head, answer(job));
        used = true;
        continue;
      }
      jobs_.push_back(std::move(job));
      ++pending_;
    }
    cv_.notify_one();
  }
  return used;
}

void Virtio9p::work() {
  bool entered = !enter_worker_;
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    if (!entered) {
      try {
        enter_worker_();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "hvrun-vmm: 9p worker of %s: %s\n", root_.c_str(), e.what());
        std::_Exit(kHvrunErrorStatus);
      }
      entered = true;
    }
    serve(job);
  }
}

void Virtio9p::serve(Job& job) {
  std::lock_guard serving(server_mu_);
  {
    std::lock_guard lock(mu_);
    if (job.epoch != epoch_) return;  // reset while it waited (reset() fixed pending_)
  }
  const uint32_t len = answer(job);
  {
    std::lock_guard lock(mu_);
    if (job.epoch != epoch_) return;
    done_.push_back({job.head, len, job.epoch});
    --pending_;
  }
  const uint64_t one = 1;
  (void)!::write(done_fd_.get(), &one, sizeof one);
}

uint32_t Virtio9p::answer(Job& job) {
  std::vector<uint8_t> reply = server_->handle(job.request);
  msize_ = server_->msize();
  uint64_t room = 0;
  for (const DescSegment& s : job.reply_segs) room += s.len;
  if (reply.size() > room) {
    // An Rlerror EMSGSIZE with the same tag (11 bytes: room >= 11, checked).
    const uint16_t tag = reply.size() > 6 ? uint16_t(reply[5] | reply[6] << 8) : p9::kNoTag;
    reply = p9::lerror(tag, EMSGSIZE);
  }
  size_t pos = 0;
  for (const DescSegment& s : job.reply_segs) {
    if (pos == reply.size()) break;
    size_t n = std::min<size_t>(s.len, reply.size() - pos);
    job.mem->write(s.addr, reply.data() + pos, n);
    pos += n;
  }
  return static_cast<uint32_t>(reply.size());
}

void Virtio9p::reset() {
  {
    std::lock_guard lock(mu_);
    ++epoch_;
    jobs_.clear();
    done_.clear();
    pending_ = 0;
  }
  std::lock_guard serving(server_mu_);  // the request in progress finishes first
  server_->reset();
  msize_ = server_->msize();
}

constexpr char k9pTag[4] = {'V', '9', 'P', 'S'};

bool Virtio9p::busy() const {
  std::lock_guard lock(mu_);
  return pending_ > 0 || !done_.empty();
}

std::string Virtio9p::save_state() const {
  std::lock_guard serving(server_mu_);
  StateOut o(k9pTag, 2);
  o.str(tag_);
  o.str(server_->save_state());
  return o.take();
}

std::string Virtio9p::restore_state(std::string_view blob) {
  StateIn in(blob, k9pTag, 2, "virtio-9p");
  const std::string tag = in.str("mount tag", kMaxTagLen);
  const std::string session = in.str("9p session", blob.size());
  in.end();
  if (tag != tag_) in.fail("its share has mount tag '" + tag + "', this one '" + tag_ + "'");
  std::lock_guard serving(server_mu_);
  const std::vector<std::string> lost = server_->restore_state(session);
  msize_ = server_->msize();
  if (lost.empty()) return {};
  std::string note = "virtio-9p share " + tag_ + ": not restored: ";
  for (size_t i = 0; i < lost.size() && i < 8; ++i) note += (i ? "; " : "") + lost[i];
  if (lost.size() > 8) note += "; and " + std::to_string(lost.size() - 8) + " more";
  return note;
}

}  // namespace hvrun::vmm
