#include "util/dir_watch.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

namespace hvrun {

DirWatch::DirWatch(const std::string& dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  if (fd_ && ::inotify_add_watch(fd_.get(), dir.c_str(),
                                 IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF) < 0)
    fd_.reset();
}

bool DirWatch::wait(int timeout_ms) {
  if (!fd_) {
    ::poll(nullptr, 0, timeout_ms);
    return false;
  }
  pollfd p{fd_.get(), POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char buf[4096];
  while (::read(fd_.get(), buf, sizeof buf) > 0) {
  }
  return true;
}

}  // namespace hvrun
