// The image JSON documents (image/oci.hpp): index, manifest, descriptor and
// image config, read as the importer and the registry client read them.
// Whatever the text, each reader returns or throws hvrun::Error naming what
// it read; a digest it returns is 64 hex digits.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "image/oci.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"

using namespace hvrun;

namespace {

void check_hex(const std::string& h, const char* what) {
  bool ok = h.size() == 64;
  for (char c : h) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) fuzz::invariant_failed(std::string(what) + " returned a digest that is not 64 hex digits: " + h);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j;
  try {
    j = image::parse_json(fuzz::as_string(data, size), "fuzz.json");
  } catch (const Error&) {
    return 0;
  }
  try {
    check_hex(image::digest_hex(j, "descriptor"), "digest_hex");
  } catch (const Error&) {
  }
  try {
    image::config_from(j);
  } catch (const Error&) {
  }
  try {
    for (const auto& h : image::diff_ids_of(j, "config")) check_hex(h, "diff_ids_of");
  } catch (const Error&) {
  }
  // An index's manifests and a manifest's config and layers are descriptors.
  if (j.is_object()) {
    if (auto mt = j.find("mediaType"); mt != j.end() && mt->is_string()) image::is_index_type(mt->get<std::string>());
    for (const char* list : {"manifests", "layers"}) {
      auto it = j.find(list);
      if (it == j.end() || !it->is_array()) continue;
      for (const auto& d : *it) {
        try {
          check_hex(image::digest_hex(d, list), "digest_hex");
        } catch (const Error&) {
        }
      }
    }
    if (auto c = j.find("config"); c != j.end()) {
      try {
        check_hex(image::digest_hex(*c, "config"), "digest_hex");
      } catch (const Error&) {
      }
    }
  }
  return 0;
}
