// builder/dockerfile: a Containerfile's text into instructions (line
// continuations, escape directive, heredoc-free JSON and shell forms, flags).
// Every instruction it returns has an upper-case keyword, a line inside the
// text, and JSON-form arguments only when json_form is set.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>

#include "builder/dockerfile.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"

using namespace hvrun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = fuzz::as_string(data, size);
  try {
    auto df = builder::parse_dockerfile(text, "Containerfile");
    const long lines = 1 + static_cast<long>(std::count(text.begin(), text.end(), '\n'));
    for (const auto& in : df.instructions) {
      for (char c : in.keyword)
        if (std::islower(static_cast<unsigned char>(c))) fuzz::invariant_failed("keyword not upper case: " + in.keyword);
      if (in.line < 1 || in.line > lines) fuzz::invariant_failed("instruction line outside the text: " + in.text);
      if (!in.json_form && !in.json.empty()) fuzz::invariant_failed("JSON elements without json_form: " + in.text);
    }
  } catch (const Error&) {
  }
  return 0;
}
