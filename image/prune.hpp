// Store housekeeping: which images containers use, `hvrun image prune`
// and the numbers behind `hvrun system df`.
//
// Sizes are what the files take on disk (allocated blocks, each inode
// counted once): an image's layers (the unpacked tree and the kept blob),
// its record and config, and its flattened VM disk when one was made.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "image/store.hpp"
#include "util/fs.hpp"

namespace hvrun::image {

// The image ids some container record or VM snapshot was made from
// (image_users, store.hpp).
std::set<std::string> images_in_use(const Store& s);

// util/fs.hpp's, as it was first found here.
using hvrun::disk_bytes;

struct PruneReport {
  std::vector<std::string> lines;  // "untagged: NAME", "deleted: sha256:ID" (images, then layers)
  uint64_t reclaimed = 0;          // bytes
};

// Removes dangling images (no tag, no container uses them) or, with `all`,
// every image no container uses; then every layer no image uses. Under the
// exclusive store lock; an image a container uses is never touched.
PruneReport prune_images(const Store& s, bool all);

// One row of `system df`.
struct UsageRow {
  uint64_t total = 0;
  uint64_t active = 0;
  uint64_t size = 0;         // bytes
  uint64_t reclaimable = 0;  // bytes
};

struct StoreUsage {
  // Images: active = used by a container; size = records, configs, the
  // layers images use (shared ones once) and VM disks; reclaimable = what
  // `image prune -a` would free.
  UsageRow images;
  // Layers: every layer directory; active = used by an image; reclaimable
  // = layers no image uses (left by an interrupted import; the next change
  // to the store removes them).
  UsageRow layers;
};
StoreUsage store_usage(const Store& s);

}  // namespace hvrun::image
