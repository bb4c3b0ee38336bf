// Human and JSON presentation of images (used by `hvrun images`,
// `hvrun image ls` and `hvrun image inspect`).
#pragma once
#include <cstdint>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "image/store.hpp"
#include "util/units.hpp"

namespace hvrun::image {

// "4.25MB", "512B" (decimal units, like docker).
using ::hvrun::human_size;  // util/units.hpp
// "5 minutes ago" relative to now (seconds since the epoch).
std::string human_age(const std::string& rfc3339, std::time_t now);
// One row of `hvrun images`: one per tag, "<none>" when untagged.
struct ImageRow {
  std::string repository, tag;
  const ImageRecord* image;
};
std::vector<ImageRow> image_rows(const std::vector<ImageRecord>& imgs);
// REPOSITORY TAG IMAGE ID CREATED SIZE, one row per tag (<none> when untagged).
std::string images_table(const std::vector<ImageRecord>& imgs, std::time_t now);
// Docker-like inspect object.
nlohmann::json inspect_json(const Store& store, const ImageRecord& img);

}  // namespace hvrun::image
