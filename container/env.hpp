// A process environment ("K=V" strings) overlaid by another: the image's by
// -e/--env-file at run, the container's by exec's -e.
#pragma once
#include <string>
#include <vector>

namespace hvrun::container {

// Overlays `overrides` on `base` by key, keeping base's order; new keys appended.
std::vector<std::string> merge_env(const std::vector<std::string>& base, const std::vector<std::string>& overrides);

}  // namespace hvrun::container
