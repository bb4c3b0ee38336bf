// The host-guest contract guest-init reads: /spec.json (the GuestSpec with
// the workload's RunSpec) and the control channel's lines in both
// directions. Whatever the bytes, parsing ends in a GuestSpec or an
// hvrun::Error; a parsed spec written back parses to the same JSON; a
// decoded message encodes to one line that decodes again.
#include <cstdint>
#include <string>

#include "contract/control.hpp"
#include "contract/guest_spec.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"

using namespace hvrun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = fuzz::as_string(data, size);
  try {
    auto g = contract::parse_guest_spec(text);
    const std::string once = contract::to_json(g);
    std::string twice;
    try {
      twice = contract::to_json(contract::parse_guest_spec(once));
    } catch (const Error& e) {
      fuzz::invariant_failed(std::string("a written GuestSpec does not parse back: ") + e.what() + "\n" + once);
    }
    if (once != twice) fuzz::invariant_failed("GuestSpec round trip changed it:\n" + once + "\n" + twice);
  } catch (const Error&) {
  }
  // The control channel: one line each way.
  if (auto m = contract::decode_host_message(text)) {
    std::string line = contract::encode(*m);
    if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1)
      fuzz::invariant_failed("an encoded host message is not one line: " + line);
    line.pop_back();
    if (!contract::decode_host_message(line)) fuzz::invariant_failed("an encoded host message does not decode: " + line);
  }
  if (auto e = contract::decode_guest_event(text)) {
    std::string line = contract::encode(*e);
    if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1)
      fuzz::invariant_failed("an encoded guest event is not one line: " + line);
    line.pop_back();
    if (!contract::decode_guest_event(line)) fuzz::invariant_failed("an encoded guest event does not decode: " + line);
  }
  return 0;
}
