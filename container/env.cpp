#include "container/env.hpp"

namespace hvrun::container {

std::vector<std::string> merge_env(const std::vector<std::string>& base, const std::vector<std::string>& overrides) {
  auto key_of = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  std::vector<std::string> out = base;
  for (const auto& kv : overrides) {
    const std::string k = key_of(kv);
    bool replaced = false;
    for (auto& e : out) {
      if (key_of(e) == k) {
        e = kv;
        replaced = true;
      }
    }
    if (!replaced) out.push_back(kv);
  }
  return out;
}

}  // namespace hvrun::container
