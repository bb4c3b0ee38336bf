// hvrun-vmm's launch config (vmm/tool/launch.hpp): the JSON the engine hands
// the VMM through a memfd, and hvrun-vmm's own command line (vmm/tool/args).
// The fd numbers in a launch config are not checked against this process
// (check_fds=false): the parse is what is fuzzed. A parsed config written
// back parses to the same JSON.
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"
#include "vmm/tool/args.hpp"
#include "vmm/tool/launch.hpp"

using namespace hvrun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = fuzz::as_string(data, size);
  try {
    auto l = vmm::tool::launch_from_json(text, false);
    const std::string once = vmm::tool::launch_to_json(l);
    std::string twice;
    try {
      twice = vmm::tool::launch_to_json(vmm::tool::launch_from_json(once, false));
    } catch (const Error& e) {
      fuzz::invariant_failed(std::string("a written launch config does not parse back: ") + e.what() + "\n" + once);
    }
    if (once != twice) fuzz::invariant_failed("launch config round trip changed it:\n" + once + "\n" + twice);
  } catch (const Error&) {
  }
  // The same bytes as a command line, one word per line.
  try {
    vmm::tool::parse_args(fuzz::split(text, '\n'));
  } catch (const Error&) {
  }
  return 0;
}
