// An image made piece by piece in a staging directory, then committed to the
// store in one step (see store.hpp for the commit protocol). The importer,
// and whatever else makes images (commit, load, pull), build through it.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "image/staging.hpp"
#include "image/store.hpp"

namespace hvrun::image {

struct StagedLayer {
  std::string diff_id;
  uint64_t size = 0;
  bool in_stage = false;  // unpacked into the staging dir (else: reused from the store)
};

class ImageBuilder {
 public:
  // `what` names the source in errors ("busybox.tar", "stdin", a container).
  ImageBuilder(const Store& s, std::string what);
  ImageBuilder(const ImageBuilder&) = delete;
  ImageBuilder& operator=(const ImageBuilder&) = delete;

  // A scratch directory that goes with the builder.
  const std::string& staging_dir() const { return stage_.path(); }

  // Adds a layer on top from an uncompressed or compressed tar on `fd`.
  // want_blob: the sha256 the stream must have as read (a manifest's
  // digest), want_diff: the sha256 of the uncompressed tar (the config's
  // diff id); either may be empty. A layer the store already holds is only
  // verified, not unpacked again.
  const StagedLayer& add_layer(int fd, const std::string& what, const std::string& want_blob = "",
                               const std::string& want_diff = "");
  // Reuses a layer the store holds (no data read); throws when it has none.
  const StagedLayer& reuse_layer(const std::string& diff_id);
  const std::vector<StagedLayer>& layers() const { return layers_; }

  // The image config blob, as given (its sha256 is the image id).
  void set_config(const std::string& blob, const std::string& what);
  // A generated config for a plain rootfs: PATH, /bin/sh, the layers so far.
  void default_config();
  const nlohmann::json& config() const { return config_; }

  // The image this one is made on (ImageRecord::parent).
  void set_parent(std::string id) { parent_ = std::move(id); }

  // Device nodes left out of the layers (see ImportNotes).
  uint64_t dropped_devices() const { return dropped_devices_; }
  void note_dropped_devices(uint64_t n) { dropped_devices_ += n; }

  // Moves layers and the image into the store under its exclusive lock and
  // points `tags` at it. Returns the image id.
  std::string commit(const std::vector<std::string>& tags);

 private:
  const Store& s_;
  std::string what_;
  Staging stage_;
  std::vector<StagedLayer> layers_;
  std::string config_blob_;
  nlohmann::json config_;
  int counter_ = 0;
  uint64_t dropped_devices_ = 0;
  std::string parent_;
};

}  // namespace hvrun::image
