// The image store: content-addressed layers, images and tags under one root
// (default /var/lib/hvrun, overridden by --root or HVRUN_ROOT).
//
// Layout (shared with the engine, which owns containers/):
//   ROOT/lock                    flock: exclusive for writers, shared for readers
//   ROOT/layers/<sha256>/diff/   unpacked layer, overlay-ready (whiteouts as
//                                0:0 char devices, opaque dirs as xattr)
//   ROOT/layers/<sha256>/layer.json
//   ROOT/images/<image-id>/image.json   ImageRecord
//   ROOT/repositories.json       {"name:tag": "<image-id>"}
//   ROOT/containers/<id>/config.json    written by the engine; holds "image_id"
//   ROOT/tmp/                    staging; an import killed half-way leaves
//                                only garbage here, cleaned at next start
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace hvrun::image {

struct ImageConfig {
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string user;
};

struct ImageRecord {
  std::string id;                   // sha256 hex of the image config
  std::vector<std::string> tags;    // "name:tag"
  std::vector<std::string> layers;  // layer diff ids (sha256 hex), bottom first
  ImageConfig config;
  std::string created;              // RFC 3339
  uint64_t size = 0;                // bytes unpacked
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ImageConfig, env, entrypoint, cmd, working_dir, user)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ImageRecord, id, tags, layers, config, created, size)

// "busybox" -> "busybox:latest"; validates characters. Throws on bad refs.
std::string normalize_ref(const std::string& ref);

class Store {
 public:
  explicit Store(std::string root);
  // --root flag value if non-empty, else $HVRUN_ROOT, else /var/lib/hvrun.
  static std::string default_root(const std::string& flag = "");

  const std::string& root() const { return root_; }

  // Imports a rootfs tar (plain/gz/zstd/xz), a directory, an OCI layout
  // (dir or tar) or a `docker save` tar. Atomic: all or nothing.
  ImageRecord import(const std::string& path, const std::optional<std::string>& name);
  std::vector<ImageRecord> list() const;
  // By "name[:tag]", full id, or unique id prefix. Throws "no such image: X".
  ImageRecord resolve(const std::string& ref) const;
  void tag(const std::string& src, const std::string& dst);
  // Removes a tag; the image itself when its last tag goes. Refused while a
  // container uses the image (unless force). Returns what was removed.
  std::vector<std::string> remove(const std::string& ref, bool force = false);

  // Overlay lowerdirs for an image: top layer first.
  std::vector<std::string> layer_dirs(const ImageRecord& img) const;

 private:
  std::string root_;
};

}  // namespace hvrun::image
