// What the store keeps of an image: its record (image.json) and the parts of
// its config that running it needs.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>

namespace hvrun::image {

struct ImageConfig {
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string user;
  std::string stop_signal;  // STOPSIGNAL ("": none)
  std::vector<std::string> exposed_ports;  // EXPOSE: "80/tcp" (the config's ExposedPorts keys)
  std::vector<std::string> volumes;  // VOLUME: container paths (the config's Volumes keys), each an anonymous volume in a container
  std::map<std::string, std::string> labels;  // LABEL (the config's Labels): a container's labels start from them
};

struct ImageRecord {
  std::string id;                   // sha256 hex of the image config
  std::vector<std::string> tags;    // "name:tag"
  std::vector<std::string> layers;  // layer diff ids (sha256 hex), bottom first
  ImageConfig config;
  std::string created;              // RFC 3339
  uint64_t size = 0;                // bytes unpacked
  // The image this one was made on (commit, build), "" when none or unknown:
  // `images` hides an untagged image that is another's parent, as Docker
  // hides a build's intermediate images (shown with -a).
  std::string parent;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ImageConfig, env, entrypoint, cmd, working_dir, user, stop_signal,
                                                exposed_ports, volumes, labels)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ImageRecord, id, tags, layers, config, created, size, parent)

}  // namespace hvrun::image
