// Where a blob was last seen on which registry (ROOT/registry/sources.json:
// {"<hex>": ["host/repo", ...]}), so that a push to another repository on the
// same registry can mount it (POST ...?mount=&from=) instead of uploading.
#pragma once
#include <string>
#include <vector>

#include "image/store.hpp"

namespace hvrun::registry {

// Repositories ("team/app") on `host` that hold blob `hex`, newest first.
std::vector<std::string> blob_sources(const image::Store& s, const std::string& host, const std::string& hex);
// Notes that host/repo holds each blob in `hexes`.
void note_sources(const image::Store& s, const std::string& host, const std::string& repo,
                  const std::vector<std::string>& hexes);

}  // namespace hvrun::registry
