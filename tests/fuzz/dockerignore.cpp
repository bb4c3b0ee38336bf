// builder/dockerignore: a .dockerignore's patterns (globs, **, ! exceptions)
// and the matching of context paths against them. The input is the file's
// text, then a NUL, then paths to ask about (one per line).
#include <cstdint>
#include <string>

#include "builder/dockerignore.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"

using namespace hvrun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in = fuzz::as_string(data, size);
  const size_t nul = in.find('\0');
  const std::string text = in.substr(0, nul);
  const std::string paths = nul == std::string::npos ? std::string("a/b\nx") : in.substr(nul + 1);
  try {
    auto ig = builder::DockerIgnore::parse(text);
    for (const auto& p : fuzz::split(paths, '\n')) {
      ig.excluded(p);
      ig.has_exceptions_under(p);
    }
  } catch (const Error&) {
  }
  // Each line as a pattern on its own against each path.
  for (const auto& pat : fuzz::split(text, '\n')) {
    if (pat.size() > 256) continue;  // bounds the work one input can ask for
    for (const auto& p : fuzz::split(paths, '\n')) {
      try {
        builder::match_path(pat, p);
      } catch (const Error&) {
      }
    }
  }
  return 0;
}
