// Shared by the fuzz targets (tests/fuzz/*.cpp): a scratch directory made
// once per process and removed at exit, and the rule for exceptions.
//
// The rule: bad input must end in hvrun::Error (a clear one-line message,
// DEVELOPERS.md). A target catches hvrun::Error; any other exception escapes
// LLVMFuzzerTestOneInput and libFuzzer reports it as a crash (an uncaught
// std::out_of_range or json::type_error means a user would see a cryptic
// message, or a hostile guest could end the VMM).
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace hvrun::fuzz {

// mkdtemp under $TMPDIR (else /tmp), removed with everything in it when the
// process exits normally. Never the real store: targets pass its path.
class ScratchDir {
 public:
  explicit ScratchDir(const char* what) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/hvrun-fuzz-" + what + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  // Empties the directory (keeps it).
  void clear() const {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(path_, ec)) std::filesystem::remove_all(e.path(), ec);
  }

 private:
  std::string path_;
};

// HVRUN_FUZZ_VERBOSE=1: targets print why an input was refused (to check
// that a seed gets as far as it should: `fuzz_replay_X seed`).
inline bool verbose() {
  static const bool v = [] {
    const char* e = std::getenv("HVRUN_FUZZ_VERBOSE");
    return e && *e && *e != '0';
  }();
  return v;
}
inline void refused(const char* what, const std::exception& e) {
  if (verbose()) std::fprintf(stderr, "fuzz: %s refused: %s\n", what, e.what());
}

inline std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Splits at `sep` (a word per piece; empty pieces kept).
inline std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.emplace_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// A broken invariant the target checks itself (a round trip that does not
// come back the same): printed, then abort() so libFuzzer keeps the input.
[[noreturn]] inline void invariant_failed(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what.c_str());
  std::abort();
}

}  // namespace hvrun::fuzz
