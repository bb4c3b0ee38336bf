// The build cache: a step's key -> the image it made (ROOT/build-cache/KEY,
// one line: the image id). The key is the sha256 of the parent image id,
// the step as expanded, and what else the step's result depends on (the
// sources' content hash, the build args a RUN sees). An entry whose image
// left the store (rmi, prune) is a miss.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "image/store.hpp"

namespace hvrun::builder {

std::string cache_key(const std::string& parent_id, const std::vector<std::string>& parts);

class BuildCache {
 public:
  explicit BuildCache(const image::Store& store);
  std::optional<std::string> lookup(const std::string& key) const;
  void record(const std::string& key, const std::string& image_id) const;
  // Every image an entry names (whether or not it is still in the store).
  std::set<std::string> image_ids() const;

 private:
  const image::Store& store_;
  std::string dir_;
};

}  // namespace hvrun::builder
