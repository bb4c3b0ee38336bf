#include "util/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include "util/error.hpp"

namespace hvrun {

static int open_lock(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw_sys("open lock", path);
  return fd;
}

FileLock::FileLock(const std::string& path, Mode mode) : fd_(open_lock(path)) {
  int op = mode == Mode::Shared ? LOCK_SH : LOCK_EX;
  while (::flock(fd_.get(), op) < 0) {
    if (errno != EINTR) throw_sys("flock", path);
  }
}

FileLock FileLock::try_lock(const std::string& path, Mode mode) {
  FileLock l;
  UniqueFd fd(open_lock(path));
  int op = (mode == Mode::Shared ? LOCK_SH : LOCK_EX) | LOCK_NB;
  if (::flock(fd.get(), op) == 0) l.fd_ = std::move(fd);
  return l;
}

}  // namespace hvrun
