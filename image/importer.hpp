// Image archives and trees into the store: a rootfs tar (plain/gz/zstd/xz),
// a rootfs directory, an OCI layout (dir or tar) or a `docker save` /
// `podman save` tar.
//
// What an input is, is decided by its top level: `oci-layout` means an OCI
// layout, else `manifest.json` means a docker archive, whatever else stands
// beside them (podman writes its layers as <hex>.tar at the top). A tar
// whose top holds only image-archive names (blobs/, index.json,
// repositories, <hex>/, <hex>.tar, <hex>.json) but neither of those is
// refused, as is anything that is not a tar: never imported as a rootfs.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "image/builder.hpp"
#include "image/staging.hpp"
#include "image/store.hpp"

namespace hvrun::image {

// An image an import or load committed, with the names it was given.
struct ImportedImage {
  std::string id;
  std::vector<std::string> tags;
};

class Importer {
 public:
  // `display` names the input in errors (e.g. "stdin" for a spooled file).
  Importer(const Store& s, std::string path, std::string display);

  // Imports and commits; `tags` gets the names given to the image (`name`,
  // else those the archive carries). Returns the image id. An archive of
  // several images gives its first.
  std::string run(const std::optional<std::string>& name, std::vector<std::string>& tags);

  // `hvrun load`: image archives only (a rootfs tar or directory is refused),
  // every image the archive holds, each with the names it carries. All are
  // staged before any is committed: a bad archive adds nothing.
  std::vector<ImportedImage> load_all();

  uint64_t dropped_devices() const;

 private:
  struct Pending {
    std::unique_ptr<ImageBuilder> builder;
    std::vector<std::string> tags;
  };
  enum class Kind { RootfsTar, RootfsDir, Oci, Docker };

  Kind classify(bool archives_only);
  void stage(Kind k, bool all);
  ImageBuilder& start_image();
  void import_rootfs_tar();
  void import_rootfs_dir();
  void import_oci(int dirfd, bool all);
  void oci_image(int dirfd, const nlohmann::json& top_desc, std::vector<std::string> names);
  void import_docker(int dirfd, bool all);
  void docker_image(int dirfd, const nlohmann::json& entry);
  int unpack_outer();  // the archive into a staging dir; returns its fd (owned by outer_fd_)
  std::string read_blob(int dirfd, const std::string& hex, const std::string& what);

  const Store& s_;
  std::string input_;    // the path read
  std::string display_;  // the name errors give it
  std::unique_ptr<Staging> outer_;  // an archive's unpacked top level
  UniqueFd outer_fd_;
  uint64_t outer_dropped_ = 0;
  std::vector<Pending> images_;
};

}  // namespace hvrun::image
