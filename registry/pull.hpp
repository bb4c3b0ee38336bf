// hvrun pull: manifest (an index or manifest list picks linux/<host arch>),
// config, then the layers: those whose diff id the store has are reused, the
// others downloaded 3 at a time into the builder's staging directory, each
// blob's sha256 verified as it arrives, and unpacked in order as soon as
// they are complete. The image is committed only when everything checked
// out: a failure or a kill leaves the store as it was.
#pragma once
#include <string>

#include "image/store.hpp"
#include "registry/client.hpp"
#include "registry/progress.hpp"

namespace hvrun::registry {

struct PullOptions {
  ClientOptions client;
  int parallel = 3;  // layer downloads at once
};

struct PullResult {
  std::string name;      // the local tag given ("127.0.0.1:5000/x:1")
  std::string image_id;  // sha256 hex of the config
  std::string digest;    // "sha256:..." of the manifest (or index) pulled
  bool up_to_date = false;
};

PullResult pull(const image::Store& s, const std::string& ref, const PullOptions& opt, Progress& progress);

}  // namespace hvrun::registry
