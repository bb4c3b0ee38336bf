// hvrun push: each layer's kept blob (image/store.hpp) and the config go up
// unless the registry has them (HEAD first), or are mounted from another
// repository on the same registry that is known to hold them (POST
// ?mount=&from=); then the manifest (OCI, or docker schema 2 with
// --format docker) names them with the kept blobs' media types.
#pragma once
#include <string>

#include "image/store.hpp"
#include "registry/client.hpp"
#include "registry/progress.hpp"

namespace hvrun::registry {

struct PushOptions {
  ClientOptions client;
  std::string format = "oci";  // "oci" or "docker" (schema 2)
  int parallel = 3;
};

struct PushResult {
  std::string name;    // destination reference
  std::string digest;  // "sha256:..." of the manifest
  size_t size = 0;     // manifest bytes
};

// Pushes local image `local` (name or id) to `dest` (a reference with a
// registry host).
PushResult push(const image::Store& s, const std::string& local, const std::string& dest, const PushOptions& opt,
                Progress& progress);

}  // namespace hvrun::registry
