// The file system a COPY, ADD or WORKDIR step changes: an overlay of the
// image so far (its layers below, a fresh upper directory on top), mounted
// in a child process's private mount namespace and made its root with
// chroot, so that every path and symlink resolves inside the image. The
// upper directory is then the step's layer (image/commit.hpp).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "image/store.hpp"

namespace hvrun::builder {

// Runs `fn` in a child process whose root is the merged view of `lowers`
// (top first) plus `upper` (under `scratch`, which also holds the overlay's
// work directory). `src_lowers`, when given, is mounted read-only beside it
// (a --from stage or image; empty: scratch) and its root fd handed to fn;
// else `src_fd` is. `before_chroot` runs just before the chroot, with /proc
// still there. Errors come back as one line.
void in_rootfs(const std::string& scratch, const std::vector<std::string>& lowers, const std::string& upper,
               const std::vector<std::string>* src_lowers, int src_fd, const std::function<void(int)>& fn,
               const std::function<void(int)>& before_chroot = nullptr);

// A directory under the store's tmp/ with an empty upper/ in it, removed
// with this.
class Scratch {
 public:
  explicit Scratch(const image::Store& s);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  const std::string& path() const { return path_; }
  std::string upper() const { return path_ + "/upper"; }

 private:
  std::string path_;
};

}  // namespace hvrun::builder
