// Image store (skeleton: default_root only; the rest is being written).
#include "image/store.hpp"

#include <cstdlib>

namespace hvrun::image {

std::string Store::default_root(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("HVRUN_ROOT"); env && *env) return env;
  return "/var/lib/hvrun";
}

}  // namespace hvrun::image
