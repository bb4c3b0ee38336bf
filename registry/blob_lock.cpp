#include "registry/blob_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::registry {

BlobLock::BlobLock(const std::string& tmp_dir, const std::string& hex, const std::function<void()>& waiting) {
  mkdir_p(tmp_dir);
  path_ = tmp_dir + "/blob-" + hex + ".lock";
  bool told = false;
  for (;;) {
    UniqueFd fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) throw_sys("open", path_);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
      if (errno != EWOULDBLOCK) throw_sys("flock", path_);
      if (!told && waiting) waiting();
      told = true;
      int r;
      do r = ::flock(fd.get(), LOCK_EX);
      while (r < 0 && errno == EINTR);
      if (r < 0) throw_sys("flock", path_);
    }
    // The store's tmp cleaner unlinks lock files nobody holds: the lock
    // counts only while the path still names the file locked.
    struct stat a, b;
    if (::fstat(fd.get(), &a) == 0 && ::stat(path_.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
      fd_ = std::move(fd);
      return;
    }
  }
}

BlobLock::~BlobLock() {
  if (fd_) ::unlink(path_.c_str());  // while still held: a waiter re-checks the inode
}

}  // namespace hvrun::registry
