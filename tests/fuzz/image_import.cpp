// The whole importer (image/importer.cpp) on a scratch store: the input is
// the file `hvrun image import` / `hvrun load` is given, a rootfs tar
// (plain or compressed), a docker archive or an OCI layout tar. Each input
// is imported (image import) and then loaded (load, archives only) into an
// empty store under a scratch directory, never /var/lib/hvrun; the store is
// removed after each input. Size caps keep a hostile tar from filling the
// disk: 8 MiB a layer, 16 MiB an image.
//
// A refused input must leave the store without images (all or nothing).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "image/load.hpp"
#include "image/store.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"

using namespace hvrun;

namespace {

image::Store scratch_store(const std::string& root) {
  image::Store s(root);
  s.set_max_layer_size(8u << 20);
  s.set_max_image_size(16u << 20);
  s.set_min_free_space(0);
  return s;
}

void check_empty(const image::Store& s, const char* what) {
  try {
    if (!s.list().empty()) fuzz::invariant_failed(std::string(what) + " failed but left an image in the store");
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir("import");
  static const std::string input = dir.path() + "/input";
  static const std::string root = dir.path() + "/store";
  {
    std::ofstream out(input, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) std::abort();
  }
  std::error_code ec;
  {
    auto s = scratch_store(root);
    try {
      s.import(input, std::nullopt);
    } catch (const Error& e) {
      fuzz::refused("import", e);
      check_empty(s, "import");
    }
  }
  std::filesystem::remove_all(root, ec);
  {
    auto s = scratch_store(root);
    try {
      image::load_images(s, input);
    } catch (const Error& e) {
      fuzz::refused("load", e);
      check_empty(s, "load");
    }
  }
  std::filesystem::remove_all(root, ec);
  return 0;
}
