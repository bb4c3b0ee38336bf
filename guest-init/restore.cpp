#include "guest-init/restore.hpp"

#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "util/fd.hpp"

namespace hvrun::guestinit {

std::string apply_restore(const contract::RestoredMsg& m, const std::string& random_device) {
  std::string failed;
  auto fail = [&](const std::string& what) {
    if (!failed.empty()) failed += "; ";
    failed += what + ": " + std::strerror(errno);
  };
  struct timespec ts{};
  ts.tv_sec = time_t(m.time_ns / 1000000000);
  ts.tv_nsec = long(m.time_ns % 1000000000);
  if (::clock_settime(CLOCK_REALTIME, &ts) < 0) fail("set the clock");
  UniqueFd rnd(::open(random_device.c_str(), O_RDWR | O_CLOEXEC));
  if (!rnd) {
    fail("open " + random_device);
    return failed;
  }
  // Credited entropy (RNDADDENTROPY) rather than a plain write, which
  // only mixes: then RNDRESEEDCRNG makes the RNG take it now.
  std::vector<char> buf(sizeof(rand_pool_info) + m.seed.size());
  auto* info = reinterpret_cast<rand_pool_info*>(buf.data());
  info->entropy_count = int(m.seed.size() * 8);
  info->buf_size = int(m.seed.size());
  std::memcpy(buf.data() + sizeof(rand_pool_info), m.seed.data(), m.seed.size());
  if (::ioctl(rnd.get(), RNDADDENTROPY, info) < 0) {
    // Not a character device of the RNG (a test's file): mix it in at least.
    if (::write(rnd.get(), m.seed.data(), m.seed.size()) != ssize_t(m.seed.size())) fail("add the seed to " + random_device);
    return failed;
  }
  if (::ioctl(rnd.get(), RNDRESEEDCRNG) < 0) fail("reseed the RNG");
  return failed;
}

}  // namespace hvrun::guestinit
