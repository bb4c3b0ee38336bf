// hvrun check: what this host can do (container mode, VM mode) and why.
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/commands.hpp"
#include "container/cgroup_host.hpp"
#include "container/mounts.hpp"
#include "engine/vm_backend.hpp"
#include "engine/vmm_jail.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"
#include "vmm/kvm_kind.hpp"

namespace hvrun::cli {
namespace {

bool filesystem_supported(const std::string& name) {
  std::ifstream in("/proc/filesystems");
  for (std::string line; std::getline(in, line);) {
    auto w = split_words(line);
    if (!w.empty() && w.back() == name) return true;
  }
  return false;
}

// guest-init: the one `hvrun --vm` would use (engine::find_guest_init), or "".
std::string find_guest_init() {
  std::string p = engine::find_guest_init();
  return ::access(p.c_str(), X_OK) == 0 ? p : "";
}

// The store's directory, or the nearest existing one above it (a fresh
// machine has no store yet: it will be made there).
std::string existing_dir_of(std::string path) {
  while (!path.empty() && path != "/" && !is_dir(path)) {
    auto slash = path.rfind('/');
    path = slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
  }
  return path.empty() ? "." : path;
}

nlohmann::json gather(const std::string& store_root) {
  using nlohmann::json;
  json j;
  auto kvm = vmm::detect_kvm();
  j["kvm"] = {{"present", kvm.dev_present},
              {"usable", kvm.dev_usable},
              {"api_version", kvm.api_version},
              {"kind", std::string(vmm::to_string(kvm.kind))},
              {"module", kvm.module},
              {"cpu_vmx", kvm.cpu_vmx},
              {"cpu_svm", kvm.cpu_svm},
              {"boots_linux", kvm.boots_linux()},
              {"explanation", kvm.explanation}};

  auto cg = container::probe_cgroup_host();
  j["cgroups"] = {{"layout", cg.layout},
                  {"v1_controllers", cg.v1_controllers},
                  {"v2_path", cg.v2_path},
                  {"v2_controllers", cg.v2_controllers},
                  {"runtime", cg.runtime == container::CgroupVersion::V2 ? "v2" : "v1"}};

  j["overlayfs"] = filesystem_supported("overlay");
  const std::string store_problem = container::overlay_upper_problem(existing_dir_of(store_root));
  j["store"] = {{"path", store_root}, {"holds_container_layers", store_problem.empty()}};
  if (!store_problem.empty()) j["store"]["problem"] = store_problem;

  json ns = json::object();
  bool all_ns = true;
  for (const char* n : {"mnt", "uts", "ipc", "pid", "net", "user", "cgroup"}) {
    bool ok = path_exists(std::string("/proc/self/ns/") + n);
    ns[n] = ok;
    all_ns = all_ns && ok;
  }
  j["namespaces"] = ns;

  // PR_GET_SECCOMP works when the kernel has CONFIG_SECCOMP; the filter mode
  // shows as the "filter" action list in /proc/sys/kernel/seccomp.
  bool seccomp = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
  bool filter = path_exists("/proc/sys/kernel/seccomp/actions_avail");
  j["seccomp"] = {{"available", seccomp}, {"filter", seccomp && filter}};

  auto gk = vmm::find_guest_kernel();
  j["guest_kernel"] = {{"built", gk.present}, {"path", gk.vmlinux}, {"release", gk.release}};
  auto gi = find_guest_init();
  j["guest_init"] = {{"present", !gi.empty()}, {"path", gi}};
  // The VMM process of `hvrun vmm` and `hvrun --vm` (the one they would run).
  std::string vmm_path, vmm_error;
  try {
    vmm_path = engine::require_vmm();
  } catch (const Error& e) {
    vmm_error = e.what();
  }
  j["vmm"] = {{"present", !vmm_path.empty()}, {"path", vmm_path.empty() ? engine::find_vmm() : vmm_path}};
  if (!vmm_error.empty()) j["vmm"]["error"] = vmm_error;
  // The jail hvrun-vmm enters before the guest runs (vmm/jail.hpp).
  const engine::VmmJailChoice jail = engine::choose_vmm_jail();
  j["vmm"]["jail"] = {{"enabled", jail.config.enabled}};
  if (jail.config.enabled)
    j["vmm"]["jail"].update({{"user", jail.user},
                             {"uid", jail.config.uid},
                             {"gid", jail.config.gid},
                             {"seccomp", "a filter per thread (vcpu, io, p9, relay), default kill-process"},
                             {"capabilities", "none (a 9p worker keeps CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID)"},
                             {"namespaces", "mount (pivoted into the VM's own files), ipc, pid"},
                             {"cgroup", "its own: memory guest RAM + " + std::to_string(engine::kVmmOwnMemory >> 20) +
                                            " MiB, pids its threads + " + std::to_string(engine::kVmmSparePids)}});
  else
    j["vmm"]["jail"]["why_not"] = jail.why_not;

  const bool cgroups_ok = cg.layout != "none";
  j["container_mode_ready"] = cgroups_ok && j["overlayfs"].get<bool>() && all_ns && seccomp && filter && store_problem.empty();
  j["vm_mode_ready"] = kvm.boots_linux() && gk.present && !gi.empty() && !vmm_path.empty();
  return j;
}

std::string join(const nlohmann::json& arr) {
  std::string s;
  for (const auto& e : arr) s += (s.empty() ? "" : ",") + e.get<std::string>();
  return s.empty() ? "none" : s;
}

void print_human(const nlohmann::json& j) {
  const auto& k = j["kvm"];
  std::string kvm_line;
  if (!k["present"].get<bool>())
    kvm_line = "no /dev/kvm";
  else
    kvm_line = "/dev/kvm " + std::string(k["usable"].get<bool>() ? "usable" : "NOT usable") +
               (k["api_version"].get<int>() >= 0 ? ", API " + std::to_string(k["api_version"].get<int>()) : "") +
               (k["module"].get<std::string>().empty() ? "" : ", module " + k["module"].get<std::string>());
  std::printf("KVM:            kind %s (%s; cpu flags: vmx=%s svm=%s)\n", k["kind"].get<std::string>().c_str(),
              kvm_line.c_str(), k["cpu_vmx"].get<bool>() ? "yes" : "no", k["cpu_svm"].get<bool>() ? "yes" : "no");
  std::printf("                %s\n", k["explanation"].get<std::string>().c_str());

  const auto& c = j["cgroups"];
  std::string cg = c["layout"].get<std::string>();
  if (!c["v1_controllers"].empty()) cg += "; v1 controllers: " + join(c["v1_controllers"]);
  if (!c["v2_path"].get<std::string>().empty())
    cg += "; cgroup2 at " + c["v2_path"].get<std::string>() + " with controllers: " + join(c["v2_controllers"]);
  std::printf("cgroups:        %s\n", cg.c_str());
  std::printf("overlayfs:      %s\n", j["overlayfs"].get<bool>() ? "yes" : "no (not in /proc/filesystems)");
  const auto& st = j["store"];
  std::printf("store:          %s (%s)\n", st["path"].get<std::string>().c_str(),
              st["holds_container_layers"].get<bool>() ? "can hold container layers"
                                                       : st["problem"].get<std::string>().c_str());
  std::string ns, missing;
  for (auto& [name, ok] : j["namespaces"].items()) (ok.get<bool>() ? ns : missing) += name + " ";
  std::printf("namespaces:     %s%s\n", ns.c_str(), missing.empty() ? "" : ("(missing: " + missing + ")").c_str());
  const auto& s = j["seccomp"];
  std::printf("seccomp:        %s\n", s["filter"].get<bool>()      ? "yes (filter mode)"
                                      : s["available"].get<bool>() ? "strict mode only"
                                                                   : "no");
  const auto& g = j["guest_kernel"];
  if (g["built"].get<bool>())
    std::printf("guest kernel:   %s (%s)\n", g["path"].get<std::string>().c_str(),
                g["release"].get<std::string>().empty() ? "release unknown" : g["release"].get<std::string>().c_str());
  else
    std::printf("guest kernel:   not built (looked for %s; run scripts/build-kernel.sh guest)\n",
                g["path"].get<std::string>().c_str());
  const auto& gi = j["guest_init"];
  std::printf("guest-init:     %s\n", gi["present"].get<bool>() ? gi["path"].get<std::string>().c_str()
                                                               : "missing (build hvrun-guest-init or run scripts/setup.sh)");
  const auto& v = j["vmm"];
  std::printf("hvrun-vmm:      %s\n", v["present"].get<bool>() ? v["path"].get<std::string>().c_str()
                                                              : v["error"].get<std::string>().c_str());
  const auto& jl = v["jail"];
  if (jl["enabled"].get<bool>())
    std::printf("vmm jail:       user %s (%u:%u), no capabilities, seccomp filter per thread, own mount+ipc+pid "
                "namespaces and cgroup\n",
                jl["user"].get<std::string>().c_str(), jl["uid"].get<unsigned>(), jl["gid"].get<unsigned>());
  else
    std::printf("vmm jail:       none (%s)\n", jl["why_not"].get<std::string>().c_str());
  std::printf("container mode: %s\n", j["container_mode_ready"].get<bool>() ? "ready" : "NOT ready (see above)");
  std::string vm = j["vm_mode_ready"].get<bool>() ? "ready" : "NOT ready: ";
  if (!j["vm_mode_ready"].get<bool>()) {
    std::string why;
    if (!k["boots_linux"].get<bool>()) why += "KVM kind " + k["kind"].get<std::string>() + " cannot boot Linux guests";
    if (!g["built"].get<bool>()) why += std::string(why.empty() ? "" : "; ") + "guest kernel not built";
    if (!gi["present"].get<bool>()) why += std::string(why.empty() ? "" : "; ") + "guest-init missing";
    if (!v["present"].get<bool>()) why += std::string(why.empty() ? "" : "; ") + "hvrun-vmm missing";
    vm += why;
  }
  std::printf("VM mode:        %s\n", vm.c_str());
}

}  // namespace

void register_check(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("check", "Report what this host can do (KVM kind, cgroups, overlayfs, ...) and why");
  static bool json_out = false;
  sub->add_flag("--json", json_out, "Print the report as one JSON object");
  sub->callback([&ctx, &action] {
    action = [&ctx] () -> int {
      auto j = gather(ctx.root());
      if (json_out)
        std::printf("%s\n", j.dump(2).c_str());
      else
        print_human(j);
      return 0;
    };
  });
}

}  // namespace hvrun::cli
