#include "engine/describe.hpp"

#include <unistd.h>

#include <fstream>

#include "engine/network.hpp"
#include "engine/pause.hpp"
#include "image/store.hpp"
#include "util/error.hpp"

namespace hvrun::engine {

namespace {

// A running microVM's VMM as the kernel sees it (its jail, vmm/jail.hpp):
// null when it is not running or the process is not hvrun-vmm.
nlohmann::json vmm_jail_of(const ContainerConfig& c, const State& st) {
  if (c.mode != Mode::Vm || st.status != "running" || st.pid <= 0) return nullptr;
  const std::string dir = "/proc/" + std::to_string(st.pid);
  std::ifstream comm(dir + "/comm");
  std::string name;
  if (!std::getline(comm, name) || name != "hvrun-vmm") return nullptr;
  std::ifstream status(dir + "/status");
  nlohmann::json j = nlohmann::json::object();
  for (std::string line; std::getline(status, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (key == "Uid" || key == "Gid") j[key] = std::stoul(value);  // the real id, first of four
    else if (key == "Seccomp" || key == "NoNewPrivs") j[key] = std::stoi(value);
    else if (key == "CapEff" || key == "CapBnd") j[key] = value;
  }
  // Its PID namespace (its own when jailed) and its cgroup (v2 "0::/P", or
  // v1's memory hierarchy "N:memory:/P").
  char ns[64] = {}, own[64] = {};
  if (::readlink((dir + "/ns/pid").c_str(), ns, sizeof ns - 1) > 0 && ::readlink("/proc/self/ns/pid", own, sizeof own - 1) > 0)
    j["OwnPidNamespace"] = std::string(ns) != own;
  std::ifstream cgroup(dir + "/cgroup");
  std::string v1_memory, v2;  // a hybrid host lists both: hvrun uses v1 there
  for (std::string line; std::getline(cgroup, line);) {
    if (line.rfind("0::", 0) == 0) v2 = line.substr(3);
    else if (const size_t at = line.find(":memory:"); at != std::string::npos) v1_memory = line.substr(at + 8);
  }
  if (!v1_memory.empty() || !v2.empty()) j["Cgroup"] = v1_memory.empty() ? v2 : v1_memory;
  j["Jailed"] = j.value("Seccomp", 0) == 2 && j.value("Uid", 0ul) != 0;
  return j;
}

}  // namespace

nlohmann::json inspect_json(const ContainerConfig& c, const State& st) {
  using nlohmann::json;
  const auto& s = c.spec;
  json binds = json::array(), mounts = json::array();
  for (const auto& m : s.mounts) {
    // A named volume's directory is ROOT/volumes/NAME/_data.
    std::string volume;
    for (const auto& v : c.volumes)
      if (m.source.size() > v.size() + 7 && m.source.compare(m.source.size() - v.size() - 7, std::string::npos, "/" + v + "/_data") == 0)
        volume = v;
    binds.push_back((volume.empty() ? m.source : volume) + ":" + m.target + (m.readonly ? ":ro" : ""));
    json one = {{"Type", volume.empty() ? "bind" : "volume"}, {"Source", m.source}, {"Destination", m.target},
                {"Mode", m.readonly ? "ro" : ""}, {"RW", !m.readonly}, {"Propagation", "rprivate"}};
    if (!volume.empty()) one["Name"] = volume, one["Driver"] = "local";
    mounts.push_back(one);
  }
  for (const auto& t : s.tmpfs)
    mounts.push_back({{"Type", "tmpfs"}, {"Source", ""}, {"Destination", t.target}, {"Mode", ""}, {"RW", !t.readonly},
                      {"Propagation", ""}});
  json secopt = json::array();
  if (s.seccomp.mode == container::SeccompMode::Custom) secopt.push_back("seccomp=<profile>");
  else if (s.seccomp.mode != container::SeccompMode::Default) secopt.push_back("seccomp=" + s.seccomp.to_string());
  if (s.no_new_privileges) secopt.push_back("no-new-privileges");
  std::string path = s.args.empty() ? "" : s.args[0];
  // Docker's NAME:IP, from the /etc/hosts lines kept ("IP\tNAME").
  json extra_hosts = json::array();
  for (const auto& l : s.extra_hosts)
    if (const size_t tab = l.find('\t'); tab != std::string::npos) extra_hosts.push_back(l.substr(tab + 1) + ":" + l.substr(0, tab));
  json args = s.args.size() > 1 ? json(std::vector<std::string>(s.args.begin() + 1, s.args.end())) : json::array();
  return json{
      {"Id", c.id},
      {"Created", c.created},
      {"Path", path},
      {"Args", args},
      {"State",
       {{"Status", status_of(c, st)},
        {"Running", st.status == "running"},
        {"Paused", is_paused(c, st)},
        {"OOMKilled", st.oom_killed},
        {"Pid", st.status == "running" ? st.pid : 0},
        {"ExitCode", st.exit_code},
        {"Error", st.error},
        {"StartedAt", st.started_at},
        {"FinishedAt", st.finished_at},
        {"Restarting", st.restarting}}},
      {"RestartCount", st.restart_count},
      {"Mounts", mounts},
      {"Image", "sha256:" + c.image_id},
      {"Name", "/" + c.name},  // Docker's: a container's name under its parent, "/"
      {"Mode", to_string(c.mode)},
      {"VmmJail", vmm_jail_of(c, st)},
      {"Config",
       {{"Hostname", s.hostname},
        {"User", s.user},
        {"Env", s.env},
        {"Cmd", s.args},
        {"Image", c.image},
        {"WorkingDir", s.cwd},
        {"Tty", s.tty},
        {"OpenStdin", s.interactive},
        {"Labels", c.labels},
        {"StopSignal", c.stop_signal.empty() ? "SIGTERM" : c.stop_signal},
        {"StopTimeout", c.stop_timeout >= 0 ? c.stop_timeout : kDefaultStopTimeout}}},
      {"HostConfig",
       {{"Binds", binds},
        {"AutoRemove", c.auto_remove},
        {"Memory", s.memory_bytes},
        {"NanoCpus", static_cast<int64_t>(s.cpus * 1e9)},
        {"PidsLimit", s.pids_limit},
        {"ReadonlyRootfs", s.readonly_rootfs},
        {"CapAdd", s.cap_add},
        {"CapDrop", s.cap_drop},
        {"Privileged", s.privileged},
        {"UsernsMode", s.userns ? "private" : ""},
        {"PidMode", s.join.pid.empty() ? "" : "host"},
        {"IpcMode", s.join.ipc.empty() ? "private" : "host"},
        {"SecurityOpt", secopt},
        {"NetworkMode", s.net == container::NetMode::Bridge ? s.netcfg.network : container::to_string(s.net)},
        {"Init", s.init},
        {"RestartPolicy",
         {{"Name", c.restart_policy.empty() ? "no" : c.restart_policy},
          {"MaximumRetryCount", c.restart_max}}},
        {"ExtraHosts", extra_hosts},
        {"Dns", s.dns},
        {"DnsSearch", s.dns_search},
        {"DnsOptions", s.dns_options},
        {"PortBindings", c.publish}}},
      {"NetworkSettings",
       {{"Network", s.netcfg.network},
        {"Bridge", s.netcfg.bridge},
        {"IPAddress", s.netcfg.address},
        {"IPPrefixLen", s.netcfg.prefix},
        {"Gateway", s.netcfg.gateway},
        {"MacAddress", s.netcfg.mac},
        {"Ports", c.publish}}},
  };
}

nlohmann::json networks_json(const std::string& store_root, const ContainerConfig& c) {
  nlohmann::json networks = nlohmann::json::object();
  const auto& n = c.spec.netcfg;
  if (c.spec.net == container::NetMode::Bridge && !n.network.empty())
    networks[n.network] = {{"IPAddress", n.address}, {"IPPrefixLen", n.prefix}, {"Gateway", n.gateway},
                           {"MacAddress", n.mac}, {"Aliases", nlohmann::json::array()}};
  if (c.spec.net != container::NetMode::Bridge) return networks;  // never connected later
  try {
    for (const auto& e : connected_networks(store_root, c.id))
      networks[e.network] = {{"IPAddress", e.address}, {"IPPrefixLen", e.prefix}, {"Gateway", e.gateway},
                             {"MacAddress", e.mac}, {"Aliases", e.aliases}};
  } catch (const std::exception&) {
    // the network store unreadable: inspect shows what the record holds
  }
  return networks;
}

std::string since(const std::string& t) {
  std::time_t v = parse_rfc3339(t);
  if (!v) return "";
  return human_duration(static_cast<long>(std::time(nullptr) - v));
}

std::string status_text(const ContainerConfig& c, const State& st) {
  if (is_paused(c, st)) return "Up " + since(st.started_at) + " (Paused)";
  if (st.status == "running") return "Up " + since(st.started_at);
  if (st.status == "exited" && st.restarting)
    return "Restarting (" + std::to_string(st.exit_code) + ") " + since(st.finished_at) + " ago";
  if (st.status == "exited") return "Exited (" + std::to_string(st.exit_code) + ") " + since(st.finished_at) + " ago";
  return "Created";
}

ContainerFilter ContainerFilter::parse(const std::map<std::string, std::vector<std::string>>& by_key,
                                       const std::string& store_root) {
  ContainerFilter f;
  for (const auto& [key, values] : by_key) {
    if (key != "name" && key != "id" && key != "status" && key != "ancestor" && key != "label" && key != "network" &&
        key != "exited")
      throw Error("invalid filter \"" + key + (values.empty() ? "" : "=" + values.front()) +
                  "\": unknown key (keys: ancestor, exited, id, label, name, network, status)");
    for (const auto& value : values) {
      if (key == "exited" && (value.empty() || value.size() > 3 || value.find_first_not_of("0123456789") != std::string::npos))
        throw Error("invalid filter \"exited=" + value + "\": an exit code is a number 0-255");
      if (key == "status" && value != "created" && value != "running" && value != "paused" && value != "exited")
        throw Error("invalid filter \"status=" + value + "\": status is one of created, running, paused, exited");
      if (key == "ancestor") {
        try {
          f.ancestor_ids_[value] = image::Store(store_root).resolve(value).id;
        } catch (const Error&) {
          // no such image now: containers still match by the name they were run with
        }
      }
    }
  }
  f.by_key_ = by_key;
  f.store_root_ = store_root;
  return f;
}

bool labels_match(const std::map<std::string, std::string>& labels, const std::string& filter) {
  const size_t eq = filter.find('=');
  auto it = labels.find(filter.substr(0, eq));
  return it != labels.end() && (eq == std::string::npos || it->second == filter.substr(eq + 1));
}

bool ContainerFilter::match(const ContainerConfig& c, const State& st) const {
  for (const auto& [key, values] : by_key_) {
    if (key == "label") {  // Docker's: every label filter must match, not one of them
      for (const auto& v : values)
        if (!labels_match(c.labels, v)) return false;
      continue;
    }
    bool any = false;
    for (const auto& v : values) {
      if (key == "name") {
        any = c.name.find(v[0] == '/' ? v.substr(1) : v) != std::string::npos;
      } else if (key == "id") {
        any = c.id.rfind(v, 0) == 0;
      } else if (key == "status") {
        any = status_of(c, st) == v;
      } else if (key == "exited") {
        any = status_of(c, st) == "exited" && st.exit_code == std::stoi(v);
      } else if (key == "network") {  // the one it was created on, or one it was connected to since
        any = networks_json(store_root_, c).contains(v);
      } else {
        auto it = ancestor_ids_.find(v);
        const std::string hex = v.rfind("sha256:", 0) == 0 ? v.substr(7) : v;
        any = c.image == v || (it != ancestor_ids_.end() && it->second == c.image_id) ||
              (hex.size() >= 12 && c.image_id.rfind(hex, 0) == 0);
      }
      if (any) break;
    }
    if (!any) return false;
  }
  return true;
}

}  // namespace hvrun::engine
