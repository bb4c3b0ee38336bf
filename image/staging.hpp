// Staging directories under ROOT/tmp (internal to image/).
#pragma once
#include <memory>
#include <string>

#include "image/store.hpp"
#include "util/lock.hpp"

namespace hvrun::image {

// A staging directory ROOT/tmp/<n>/ kept alive by a flock on ROOT/tmp/<n>.lock.
class Staging {
 public:
  // Created under the exclusive store lock so that a concurrent cleaner
  // never sees the directory before its lock is held. The caller must not
  // hold the store lock.
  explicit Staging(const Store& s);
  ~Staging();
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_, lock_path_;
  std::unique_ptr<FileLock> lock_;
};

// With the exclusive store lock held: removes staging entries whose owner
// died. Returns true when it found any (a crashed import or rm).
bool clean_stale_tmp(const Store& s);

}  // namespace hvrun::image
