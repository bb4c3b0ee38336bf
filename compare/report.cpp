#include "compare/compare.hpp"

namespace hvrun::compare {

std::vector<Metric> base_metrics() {
  return {
      {"start_latency_ms", "start latency", "ms"},
      {"wall_ms", "wall time", "ms"},
      {"cpu_ms", "CPU time", "ms"},
      {"overhead_rss_mib", "runtime memory", "MiB"},
  };
}

Metric suite_metric(const std::string& bench) { return {"suite." + bench, bench, "ns/op"}; }

void summarize_report(Report& r) {
  for (auto& m : r.modes) {
    m.summary.clear();
    for (const auto& metric : r.metrics) {
      std::vector<double> v;
      for (const auto& s : m.samples) {
        if (s.exit_code != 0) continue;
        auto it = s.values.find(metric.key);
        if (it != s.values.end()) v.push_back(it->second);
      }
      if (!v.empty()) m.summary[metric.key] = summarize(std::move(v));
    }
  }
}

double ratio_to_base(const Report& r, size_t i, const std::string& key) {
  if (r.modes.empty() || i >= r.modes.size()) return -1;
  auto b = r.modes[0].summary.find(key);
  auto m = r.modes[i].summary.find(key);
  if (b == r.modes[0].summary.end() || m == r.modes[i].summary.end() || b->second.median <= 0) return -1;
  return m->second.median / b->second.median;
}

std::string escape_text(const std::string& mode, bool vmm_jailed) {
  if (mode == "container")
    return "shared host kernel: an escape needs one kernel bug reachable through the seccomp filter "
           "(syscalls, namespaces, cgroups, overlayfs, /proc and /sys), past dropped capabilities";
  if (mode == "vm")
    return std::string("own guest kernel: an escape to the host must break the container inside the guest, then the guest "
                       "kernel, then the VMM (hvrun-vmm: virtio device emulation, ") +
           (vmm_jailed ? "jailed: an unprivileged user without capabilities, a seccomp filter per thread, a root holding "
                         "only the VM's own files"
                       : "running unjailed as root: no seccomp filter of its own") +
           ") or KVM (the host kernel's CPU virtualization and exit handling)";
  return "unknown mode";
}

nlohmann::json to_json(const Report& r) {
  using nlohmann::json;
  json j;
  j["schema"] = "hvrun-compare/1";
  j["image"] = r.image;
  j["command"] = r.command;
  j["suite"] = r.suite;
  j["iterations"] = r.iterations;
  j["started_at"] = r.started_at;
  j["host_kernel"] = r.host_kernel;
  j["metrics"] = json::array();
  for (const auto& m : r.metrics) j["metrics"].push_back({{"key", m.key}, {"label", m.label}, {"unit", m.unit}});
  j["modes"] = json::array();
  for (size_t i = 0; i < r.modes.size(); ++i) {
    const auto& m = r.modes[i];
    json jm;
    jm["mode"] = m.mode;
    jm["samples"] = json::array();
    for (const auto& s : m.samples)
      jm["samples"].push_back({{"iteration", s.iteration}, {"exit_code", s.exit_code}, {"values", s.values}});
    jm["summary"] = json::object();
    for (const auto& [k, s] : m.summary) {
      double ratio = ratio_to_base(r, i, k);
      jm["summary"][k] = {{"n", s.n}, {"median", s.median}, {"min", s.min}, {"max", s.max},
                          {"ratio_to_base", ratio < 0 ? json(nullptr) : json(ratio)}};
    }
    jm["skipped"] = m.skipped;
    jm["isolation"] = m.isolation;
    j["modes"].push_back(std::move(jm));
  }
  return j;
}

}  // namespace hvrun::compare
