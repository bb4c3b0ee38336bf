#include "guest-init/freeze.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/fd.hpp"

namespace hvrun::guestinit {

namespace {
std::string errno_text(int err) { return std::strerror(err); }
}  // namespace

contract::FrozenEvent FsFreeze::apply(const contract::FreezeMsg& m) {
  contract::FrozenEvent ev;
  if (m.freeze && frozen_) {
    ev.frozen = true;
    return ev;
  }
  // Written back first, outside the freeze: FIFREEZE syncs too, but a
  // plain sync of everything else keeps the frozen window short.
  if (m.freeze) ::sync();
  UniqueFd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    ev.frozen = frozen_;
    ev.error = "open " + dir_ + ": " + errno_text(errno);
    return ev;
  }
  if (m.freeze) {
    int arg = 0;
    if (::ioctl(fd.get(), FIFREEZE, &arg) < 0 && errno != EBUSY) {  // EBUSY: frozen already
      ev.error = "FIFREEZE " + dir_ + ": " + errno_text(errno);
      ev.frozen = false;
      return ev;
    }
    frozen_ = true;
  } else {
    int arg = 0;
    if (::ioctl(fd.get(), FITHAW, &arg) < 0 && errno != EINVAL) {  // EINVAL: not frozen
      ev.error = "FITHAW " + dir_ + ": " + errno_text(errno);
      ev.frozen = frozen_;
      return ev;
    }
    frozen_ = false;
  }
  ev.frozen = frozen_;
  return ev;
}

void FsFreeze::thaw_if_frozen() {
  if (frozen_) (void)apply(contract::FreezeMsg{false});
}

}  // namespace hvrun::guestinit
