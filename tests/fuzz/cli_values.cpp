// The command line's value parsers: `run`'s -p, -v, --memory, --cpus,
// --pids-limit, --hostname, --net, -e, image references, hvrun vmm's
// --mem size, --tmpfs and --ulimit. The first byte picks the parser, the rest is the value. Bad
// values end in hvrun::Error; what parses obeys the parser's promise:
// a port's canonical form parses back to the same port, a reference's
// normal form is a fixed point, a memory size is at least Docker's minimum,
// a cpu count is inside 0.01..host cpus.
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "engine/network.hpp"
#include "engine/options.hpp"
#include "image/reference.hpp"
#include "net/ipam.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"
#include "vmm/tool/args.hpp"

using namespace hvrun;

namespace {

void port(const std::string& v) {
  auto p = net::parse_port(v);
  const std::string s = p.str();
  net::PortSpec back;
  try {
    back = net::parse_port(s);
  } catch (const Error& e) {
    fuzz::invariant_failed("-p " + v + ": canonical form " + s + " does not parse: " + e.what());
  }
  if (back.str() != s || back.host_ip != p.host_ip || back.host_port != p.host_port || back.port != p.port ||
      back.proto != p.proto)
    fuzz::invariant_failed("-p " + v + ": canonical form " + s + " parses to " + back.str());
}

void reference(const std::string& v) {
  const std::string n = image::normalize_ref(v);
  std::string again;
  try {
    again = image::normalize_ref(n);
  } catch (const Error& e) {
    fuzz::invariant_failed("reference " + v + ": normal form " + n + " is refused: " + e.what());
  }
  if (again != n) fuzz::invariant_failed("reference " + v + ": normal form " + n + " normalizes to " + again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string v = fuzz::as_string(data + 1, size - 1);
  try {
    switch (data[0] % 13) {
      case 0:
        port(v);
        break;
      case 1:
        engine::parse_ports(fuzz::split(v, '\n'));
        break;
      case 2:
        // -v HOST:CTR[:ro|rw]: HOST must exist; the parse only stats it.
        engine::parse_volume(v);
        break;
      case 3:
        if (engine::parse_memory(v) < engine::kMinMemoryBytes) fuzz::invariant_failed("--memory " + v + " below the minimum");
        break;
      case 4: {
        const double c = engine::parse_cpus(v, 4);
        if (!std::isfinite(c) || c < 0.01 || c > 4) fuzz::invariant_failed("--cpus " + v + " outside 0.01..4");
        break;
      }
      case 5:
        if (engine::parse_pids_limit(v) < 0) fuzz::invariant_failed("--pids-limit " + v + " negative");
        break;
      case 6:
        engine::validate_hostname(v);
        if (v.size() > 64) fuzz::invariant_failed("--hostname longer than 64 accepted: " + v);
        break;
      case 7:
        engine::parse_net(v);
        break;
      case 8:
        engine::expand_env(v, [](const std::string& k) -> std::optional<std::string> {
          if (k == "SET") return std::string("value");
          return std::nullopt;
        });
        break;
      case 9:
        reference(v);
        break;
      case 10:
        vmm::tool::parse_size(v);
        break;
      case 11: {
        const container::TmpfsMount t = engine::parse_tmpfs(v);
        if (t.target.empty() || t.target[0] != '/' || t.target == "/")
          fuzz::invariant_failed("--tmpfs " + v + ": target " + t.target + " accepted");
        break;
      }
      case 12: {
        const container::Rlimit l = engine::parse_ulimit(v);
        if (l.soft > l.hard) fuzz::invariant_failed("--ulimit " + v + ": soft above hard accepted");
        if (l.type.rfind("RLIMIT_", 0) != 0) fuzz::invariant_failed("--ulimit " + v + ": type " + l.type);
        break;
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
