// A per-blob lock (flock on ROOT/tmp/blob-<hex>.lock): two pulls that need
// the same layer download it once; the second waits, then finds the layer
// in the store. Released by the kernel when the holder dies.
#pragma once
#include <functional>
#include <string>

#include "util/fd.hpp"

namespace hvrun::registry {

class BlobLock {
 public:
  BlobLock() = default;
  // Takes the lock, blocking; `waiting` is called once if it has to wait.
  BlobLock(const std::string& tmp_dir, const std::string& hex, const std::function<void()>& waiting = {});
  BlobLock(BlobLock&&) = default;
  BlobLock& operator=(BlobLock&&) = default;
  ~BlobLock();

 private:
  std::string path_;
  UniqueFd fd_;
};

}  // namespace hvrun::registry
