// builder/expand: Dockerfile variable expansion ($X, ${X}, ${X:-w}, ${X:+w},
// quotes and the escape character), word splitting and KEY=VALUE parsing
// (ENV, LABEL, ARG). The first byte picks the escape character ('\\' or '`')
// and the flags; the rest is the text, with a fixed set of variables.
#include <cstdint>
#include <string>

#include "builder/expand.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"

using namespace hvrun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const std::string text = fuzz::as_string(data + 1, size - 1);
  const char escape = (mode & 1) ? '`' : '\\';
  static const builder::Vars vars = {
      {"A", "a"}, {"EMPTY", ""}, {"SPACE", "x y  z"}, {"PATH", "/usr/bin:/bin"}, {"Q", "'\"$A\\"}};
  try {
    builder::expand(text, vars, escape);
  } catch (const Error&) {
  }
  try {
    builder::expand_words(text, vars, escape);
  } catch (const Error&) {
  }
  try {
    builder::parse_key_values(text, vars, escape, mode & 2, mode & 4);
  } catch (const Error&) {
  }
  try {
    builder::split_quoted_words(text, escape);
  } catch (const Error&) {
  }
  try {
    builder::referenced_vars(text, escape);
  } catch (const Error&) {
  }
  return 0;
}
