#include "image/present.hpp"

#include <algorithm>
#include <cstdio>

#include "util/time.hpp"

namespace hvrun::image {

std::string human_age(const std::string& ts, std::time_t now) {
  const std::time_t t = parse_rfc3339(ts);
  if (!t) return "unknown";
  return human_duration(std::max<long>(0, static_cast<long>(now - t))) + " ago";
}

std::vector<ImageRow> image_rows(const std::vector<ImageRecord>& imgs) {
  std::vector<ImageRow> rows;
  for (auto& img : imgs) {
    std::vector<std::string> tags = img.tags;
    std::sort(tags.begin(), tags.end());
    if (tags.empty()) tags.push_back("");
    for (auto& t : tags) {
      std::string repo = "<none>", tag = "<none>";
      if (!t.empty()) {
        size_t c = t.rfind(':');
        repo = t.substr(0, c);
        tag = t.substr(c + 1);
      }
      rows.push_back({repo, tag, &img});
    }
  }
  return rows;
}

std::string images_table(const std::vector<ImageRecord>& imgs, std::time_t now) {
  std::vector<std::vector<std::string>> rows{{"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"}};
  for (auto& r : image_rows(imgs))
    rows.push_back({r.repository, r.tag, r.image->id.substr(0, 12), human_age(r.image->created, now),
                    human_size(r.image->size)});
  // Docker's tabwriter: as wide as the widest cell plus 3, at least 10.
  std::vector<size_t> w(5, 10);
  for (auto& r : rows)
    for (size_t i = 0; i < 5; ++i) w[i] = std::max(w[i], r[i].size() + 3);
  std::string out;
  for (auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < 5; ++i) {
      line += r[i];
      if (i < 4) line += std::string(w[i] - r[i].size(), ' ');
    }
    out += line + "\n";
  }
  return out;
}

nlohmann::json inspect_json(const Store& store, const ImageRecord& img) {
  using nlohmann::json;
  json layers = json::array();
  for (auto& l : img.layers) layers.push_back("sha256:" + l);
  json cfg = {{"Env", img.config.env},
              {"Entrypoint", img.config.entrypoint},
              {"Cmd", img.config.cmd},
              {"WorkingDir", img.config.working_dir},
              {"User", img.config.user}};
  json j = {{"Id", "sha256:" + img.id},
            {"RepoTags", img.tags},
            {"Parent", img.parent.empty() ? "" : "sha256:" + img.parent},
            {"Created", img.created},
            {"Size", img.size},
            {"Config", cfg},
            {"RootFS", {{"Type", "layers"}, {"Layers", layers}}},
            {"GraphDriver", {{"Name", "overlay"}, {"Data", {{"LowerDirs", store.layer_dirs(img)}}}}}};
  try {
    json raw = json::parse(store.config_blob(img));
    if (raw.is_object()) {
      if (raw.contains("architecture")) j["Architecture"] = raw["architecture"];
      if (raw.contains("os")) j["Os"] = raw["os"];
      if (raw.contains("author") && raw["author"].is_string()) j["Author"] = raw["author"];
      // The rest of the stored config as Docker shows it (Labels,
      // ExposedPorts, Volumes, StopSignal, Healthcheck, Shell, OnBuild).
      if (raw.contains("config") && raw["config"].is_object())
        for (auto& [k, v] : raw["config"].items())
          if (!j["Config"].contains(k)) j["Config"][k] = v;
    }
  } catch (const std::exception&) {
  }
  return j;
}

}  // namespace hvrun::image
