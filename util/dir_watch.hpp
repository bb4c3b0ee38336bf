// Waking up when a directory changes (inotify), instead of polling on a
// timer: a file in it written, created, replaced by rename or removed, or
// the directory itself removed or renamed away. Waiters that watch a
// container's record (wait, logs -f, attach) use it.
#pragma once
#include <string>

#include "util/fd.hpp"

namespace hvrun {

class DirWatch {
 public:
  // A directory that cannot be watched (gone, no inotify) gives a watch
  // whose wait() just sleeps its timeout: callers look again either way.
  explicit DirWatch(const std::string& dir);
  // Returns after something changed or `timeout_ms`, whichever comes first;
  // true when something changed.
  bool wait(int timeout_ms);

 private:
  UniqueFd fd_;
};

}  // namespace hvrun
