// An image's history (`hvrun history`) and how the store's images descend
// from each other (`hvrun history --graph`).
#pragma once
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "image/store.hpp"

namespace hvrun::image {

struct HistoryRow {
  std::string id;  // the image at this step (hex) when the store holds it, else "" (<missing>)
  std::string created;     // RFC 3339, "" when unknown
  std::string created_by;  // the command that made the step
  std::string comment;
  std::string author;
  uint64_t size = 0;  // the layer's unpacked size; 0 for a step without a layer
  bool empty_layer = false;
};

// Newest first, from the config's "history" and the layers' sizes. Layers
// the history does not account for (an imported rootfs has no history)
// get rows of their own at the bottom. A row whose layers and history so far
// are exactly those of an image in the store shows that image's id (the
// top row is always `img` itself).
std::vector<HistoryRow> image_history(const Store& store, const ImageRecord& img);

// The config's history with entries added at the bottom for the layers it
// does not account for, so that its non-empty entries match the layers one
// to one (what `hvrun commit` writes into a new image's config).
nlohmann::json aligned_history(const nlohmann::json& config, size_t layers);

// Every image in the store as a tree: an image's parent is the image whose
// layers are the longest proper prefix of its own (images with the same
// layers share a line). One line per node, oldest roots first:
//   * 1a2b3c4d5e6f busybox:latest (1 layer)
//   `-* 9f8e7d6c5b4a app:v1 (+1 layer) "add config"
std::string history_graph(const Store& store, std::time_t now);

}  // namespace hvrun::image
