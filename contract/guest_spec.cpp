#include "contract/guest_spec.hpp"

#include <nlohmann/json.hpp>

#include "contract/json_numbers.hpp"
#include "contract/plan.hpp"
#include "util/error.hpp"

namespace hvrun::contract {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Volume, target, readonly, file)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GuestNetwork, mac, ifname, address, prefix, gateway, mtu)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GuestSpec, workload, volumes, hosts_share, has_network, network,
                                                more_networks)

GuestSpec make_guest_spec(const container::RunSpec& host_spec, std::vector<Volume> volumes) {
  if (volumes.size() != host_spec.mounts.size())
    throw Error("guest spec: " + std::to_string(volumes.size()) + " volume(s) for " +
                std::to_string(host_spec.mounts.size()) + " mount(s)");
  if (volumes.size() > kMaxVolumes)
    throw Error("too many volumes for a microVM (at most " + std::to_string(kMaxVolumes) + ")");
  if (host_spec.net == container::NetMode::Host) throw Error("--net host is not supported with --vm: the guest has its own kernel");
  GuestSpec g;
  g.workload = host_spec;
  auto& w = g.workload;
  w.lowerdirs.clear();
  w.upperdir.clear();
  w.workdir.clear();
  w.rootfs.clear();
  w.cgroup_root.clear();
  w.mounts.clear();
  g.volumes = std::move(volumes);
  g.hosts_share = !host_spec.netcfg.hosts_path.empty();
  w.netcfg.hosts_path.clear();
  if (host_spec.net == container::NetMode::Bridge) {
    // The host wired the VM (its tap) to the bridge; inside the guest the
    // workload shares the guest's network, which guest-init configures.
    const auto& n = host_spec.netcfg;
    g.has_network = true;
    g.network = {n.mac, n.ifname, n.address, n.prefix, n.gateway, n.mtu};
    w.net = container::NetMode::Host;
  } else {
    w.net = container::NetMode::None;
  }
  return g;
}

std::string to_json(const GuestSpec& g) { return nlohmann::json(g).dump(); }

std::string to_json(const GuestNetwork& n) { return nlohmann::json(n).dump(); }

GuestNetwork parse_guest_network(const std::string& text) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    if (!j.is_object()) throw Error("a network plan must be a JSON object");
    require_integers(j, "network plan");
    GuestNetwork n = j.get<GuestNetwork>();
    if (n.address.empty() || n.mac.empty() || n.ifname.empty())
      throw Error("a network plan needs an address, a MAC and an interface name");
    return n;
  } catch (const nlohmann::json::exception& e) {
    throw Error("not a network plan: " + std::string(e.what()));
  }
}

bool is_template_spec(const std::string& text) { return text == kTemplateSpecJson; }

GuestSpec parse_guest_spec(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error("spec.json is not valid JSON: " + std::string(e.what()));
  }
  if (!j.is_object() || !j.contains("workload")) throw Error("spec.json must hold a JSON object with a workload");
  require_integers(j, "spec.json", {"/workload/cpus"});
  GuestSpec g;
  try {
    g = j.get<GuestSpec>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("spec.json is not a guest spec: " + std::string(e.what()));
  }
  // Beside the first card, each is found by its MAC only.
  for (size_t i = 0; i < g.more_networks.size(); ++i) {
    const GuestNetwork& n = g.more_networks[i];
    if (n.address.empty() || n.mac.empty() || n.ifname.empty())
      throw Error("spec.json: more_networks[" + std::to_string(i) + "] needs an address, a MAC and an interface name");
  }
  return g;
}

}  // namespace hvrun::contract
