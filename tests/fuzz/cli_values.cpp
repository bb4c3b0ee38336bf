// The command line's value parsers: `run`'s -p, -v (and -l), --memory, --cpus,
// --pids-limit, --hostname, --net, -e, image references, hvrun vmm's
// --mem size, --tmpfs, --ulimit, --add-host, --dns, --dns-option,
// --restart and signal names (--stop-signal, kill -s). The first byte
// picks the parser, the rest is the value. Bad values end in hvrun::Error;
// what parses obeys the parser's promise: a port's canonical form parses
// back to the same port, a reference's normal form is a fixed point, a
// memory size is at least Docker's minimum, a cpu count is inside
// 0.01..host cpus, an /etc/hosts or resolv.conf line stays one line, a
// signal's name parses back to it.
#include <cmath>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>

#include "engine/network.hpp"
#include "engine/options.hpp"
#include "engine/restart_policy.hpp"
#include "image/reference.hpp"
#include "net/ipam.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"
#include "util/signals.hpp"
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
    switch (data[0] % 18) {
      case 0:
        port(v);
        break;
      case 1:
        engine::parse_ports(fuzz::split(v, '\n'));
        break;
      case 2: {
        // -l KEY=VALUE lines: a key is never empty and holds no '='.
        try {
          for (const auto& [k, _] : engine::parse_labels(fuzz::split(v, '\n')))
            if (k.empty() || k.find('=') != std::string::npos) fuzz::invariant_failed("--label key \"" + k + "\"");
        } catch (const Error&) {
        }
        // -v HOST:CTR[:ro|rw] or CTR (an anonymous volume): HOST must exist; the parse only stats it.
        const container::BindMount m = engine::parse_volume(v);
        if (m.target.empty() || m.target[0] != '/' || m.target == "/")
          fuzz::invariant_failed("-v " + v + ": target " + m.target + " accepted");
        if (m.source.empty() && v != m.target) fuzz::invariant_failed("-v " + v + ": an anonymous volume with a source");
        break;
      }
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
      case 13: {
        const std::string line = engine::parse_add_host(v);
        if (line.find('\n') != std::string::npos || line.find('\t') == std::string::npos ||
            line.find('\t') != line.rfind('\t') || line.find(' ') != std::string::npos)
          fuzz::invariant_failed("--add-host " + v + ": /etc/hosts line \"" + line + "\"");
        break;
      }
      case 14:
        if (engine::parse_dns_server(v) != v) fuzz::invariant_failed("--dns " + v + " changed");
        break;
      case 15: {
        const std::string w = engine::parse_dns_word("--dns-option", v);
        if (w.empty() || w.find_first_of(" \t\n\r") != std::string::npos)
          fuzz::invariant_failed("--dns-option " + v + ": not one word");
        break;
      }
      case 16: {
        const engine::RestartPolicy p = engine::parse_restart_policy(v);
        if (p.max < 0 || (p.name != "on-failure" && p.max != 0))
          fuzz::invariant_failed("--restart " + v + ": " + p.name + " with " + std::to_string(p.max) + " retries");
        break;
      }
      case 17: {
        const int s = parse_signal(v);
        if (s < 1 || s > SIGRTMAX || parse_signal(signal_name(s)) != s)
          fuzz::invariant_failed("signal " + v + " -> " + std::to_string(s) + " does not round-trip");
        break;
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
