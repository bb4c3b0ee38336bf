// An image made from another image's layers plus, optionally, one new layer
// taken from an overlay upper directory (whiteouts and opaque directories
// become OCI `.wh.` entries): what `hvrun commit` and `hvrun build` both do.
// The layer tar streams through a pipe into the store's importer: one pass,
// no temporary tar file.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "image/layer.hpp"
#include "image/store.hpp"

namespace hvrun::image {

struct ImageCommit {
  std::vector<std::string> base_layers;  // diff ids reused from the store, bottom first
  std::string upper;                     // the new layer's upper directory; "" for none
  LayerTarOptions tar;                   // how `upper` is read (exclusions)
  nlohmann::json config;                 // the whole image config; rootfs.diff_ids is filled in here
  std::string parent;                    // ImageRecord::parent
  std::vector<std::string> tags;         // normalized references to point at it
  std::string what;                      // names the source in errors ("container web")
};
// Returns the new image's id (hex).
std::string commit_image(const Store& store, ImageCommit c);

}  // namespace hvrun::image
