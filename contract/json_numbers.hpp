// Integer fields in the JSON documents hvrun passes between its processes
// (spec.json, hvrun-vmm's launch config). nlohmann's get<int>() of a
// floating-point number outside int's range is undefined behaviour (found
// writing tests/fuzz/vmm_launch: {"vcpus":1e30}, UBSan reports it), and
// the writers of these documents put integers in integer fields, so a
// non-integer number anywhere but in the few fields that are floating
// point marks the document malformed.
#pragma once
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace hvrun::contract {

namespace detail {
inline void require_integers_at(const nlohmann::json& j, std::string& path, const std::string& what,
                                std::initializer_list<std::string_view> float_paths) {
  if (j.is_number_float()) {
    for (auto p : float_paths)
      if (p == path) return;
    throw Error(what + ": " + (path.empty() ? "/" : path) + " must be an integer, not " + j.dump());
  }
  const size_t len = path.size();
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      path += '/';
      path += k;
      require_integers_at(v, path, what, float_paths);
      path.resize(len);
    }
  } else if (j.is_array()) {
    size_t i = 0;
    for (const auto& v : j) {
      path += '/';
      path += std::to_string(i++);
      require_integers_at(v, path, what, float_paths);
      path.resize(len);
    }
  }
}
}  // namespace detail

// Throws hvrun::Error "<what>: /a/b must be an integer, not 1.5" for the
// first floating-point number in `j` whose JSON pointer (RFC 6901 paths,
// array elements by index, keys unescaped) is not one of `float_paths`.
inline void require_integers(const nlohmann::json& j, const std::string& what,
                             std::initializer_list<std::string_view> float_paths = {}) {
  std::string path;
  detail::require_integers_at(j, path, what, float_paths);
}

}  // namespace hvrun::contract
