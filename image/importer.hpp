// Image archives and trees into the store: a rootfs tar (plain/gz/zstd/xz),
// a rootfs directory, an OCI layout (dir or tar) or a `docker save` tar.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "image/builder.hpp"
#include "image/store.hpp"

namespace hvrun::image {

class Importer {
 public:
  // `display` names the input in errors (e.g. "stdin" for a spooled file).
  Importer(const Store& s, std::string path, std::string display);

  // Imports and commits; `tags` gets the names given to the image (`name`,
  // else those the archive carries). Returns the image id.
  std::string run(const std::optional<std::string>& name, std::vector<std::string>& tags);
  uint64_t dropped_devices() const { return builder_.dropped_devices(); }

 private:
  void import_rootfs_tar();
  void import_rootfs_dir();
  void import_oci(int dirfd);
  void import_docker(int dirfd);
  void unpack_outer();
  std::string read_blob(int dirfd, const std::string& hex, const std::string& what);

  const Store& s_;
  std::string input_;    // the path read
  std::string display_;  // the name errors give it
  ImageBuilder builder_;
  std::vector<std::string> found_tags_;
};

}  // namespace hvrun::image
