// flock(2)-based locks: released by the kernel when the holder dies, so a
// kill -9 never leaves a stale lock behind.
#pragma once
#include <string>

#include "util/fd.hpp"

namespace hvrun {

class FileLock {
 public:
  enum class Mode { Shared, Exclusive };
  // Blocks until the lock is held. Creates the lock file if needed.
  FileLock(const std::string& path, Mode mode = Mode::Exclusive);
  // Non-blocking variant: returns an unlocked FileLock if someone else holds it.
  static FileLock try_lock(const std::string& path, Mode mode = Mode::Exclusive);
  bool held() const { return static_cast<bool>(fd_); }
  void unlock() { fd_.reset(); }

 private:
  FileLock() = default;
  UniqueFd fd_;
};

}  // namespace hvrun
