// hvrun inspect [--type container|image] [-f FORMAT] NAME...
// Docker-shaped JSON array; a name is a container or, when no container has
// it, an image (as `docker inspect`).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "cli/commands.hpp"
#include "engine/pause.hpp"
#include "engine/records.hpp"
#include "image/present.hpp"
#include "image/store.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

namespace {

// A running microVM's VMM as the kernel sees it (its jail, vmm/jail.hpp):
// null when it is not running or the process is not hvrun-vmm.
nlohmann::json vmm_jail_of(const engine::ContainerConfig& c, const engine::State& st) {
  if (c.mode != engine::Mode::Vm || st.status != "running" || st.pid <= 0) return nullptr;
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

nlohmann::json describe(const engine::ContainerConfig& c, const engine::State& st) {
  using nlohmann::json;
  const auto& s = c.spec;
  json binds = json::array();
  for (const auto& m : s.mounts) binds.push_back(m.source + ":" + m.target + (m.readonly ? ":ro" : ""));
  json secopt = json::array();
  if (s.seccomp.mode == container::SeccompMode::Custom) secopt.push_back("seccomp=<profile>");
  else if (s.seccomp.mode != container::SeccompMode::Default) secopt.push_back("seccomp=" + s.seccomp.to_string());
  if (s.no_new_privileges) secopt.push_back("no-new-privileges");
  std::string path = s.args.empty() ? "" : s.args[0];
  json args = s.args.size() > 1 ? json(std::vector<std::string>(s.args.begin() + 1, s.args.end())) : json::array();
  return json{
      {"Id", c.id},
      {"Created", c.created},
      {"Path", path},
      {"Args", args},
      {"State",
       {{"Status", engine::status_of(c, st)},
        {"Running", st.status == "running"},
        {"Paused", engine::is_paused(c, st)},
        {"OOMKilled", st.oom_killed},
        {"Pid", st.status == "running" ? st.pid : 0},
        {"ExitCode", st.exit_code},
        {"Error", st.error},
        {"StartedAt", st.started_at},
        {"FinishedAt", st.finished_at}}},
      {"Image", c.image_id},
      {"Name", c.name},
      {"Mode", engine::to_string(c.mode)},
      {"VmmJail", vmm_jail_of(c, st)},
      {"Config",
       {{"Hostname", s.hostname},
        {"User", s.user},
        {"Env", s.env},
        {"Cmd", s.args},
        {"Image", c.image},
        {"WorkingDir", s.cwd},
        {"Tty", s.tty},
        {"OpenStdin", s.interactive}}},
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
        {"SecurityOpt", secopt},
        {"NetworkMode", s.net == container::NetMode::Bridge ? s.netcfg.network : container::to_string(s.net)},
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

bool is_not_found(const Error& e, const char* prefix) { return std::string(e.what()).rfind(prefix, 0) == 0; }

}  // namespace

void register_inspect(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("inspect", "Show containers or images as JSON");
  auto names = std::make_shared<std::vector<std::string>>();
  auto type = std::make_shared<std::string>();
  sub->add_option("names", *names, "Containers or images (name or id)")->required();
  sub->add_option("--type", *type, "Only this kind of object: container or image")
      ->check(CLI::IsMember({"container", "image"}));
  auto format = add_inspect_format(sub);
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      std::optional<Template> tmpl = format();
      engine::Records rec(ctx.root());
      std::optional<image::Store> store;
      std::vector<nlohmann::json> out;
      int rc = 0;
      for (const auto& n : *names) {
        try {
          if (*type != "image") {
            try {
              std::string id = rec.resolve(n);
              out.push_back(describe(rec.load_config(id), rec.refresh(id)));
              continue;
            } catch (const Error& e) {
              if (*type == "container" || !is_not_found(e, "no such container")) throw;
            }
          }
          if (!store) store.emplace(ctx.root());
          try {
            out.push_back(image::inspect_json(*store, store->resolve(n)));
          } catch (const Error& e) {
            if (*type == "image" || !is_not_found(e, "no such image")) throw;
            throw Error("no such object: " + n);
          }
        } catch (const Error& e) {
          std::fprintf(stderr, "hvrun: %s\n", e.what());
          rc = kHvrunErrorStatus;
        }
      }
      print_inspected(out, tmpl);
      return rc;
    };
  });
}

}  // namespace hvrun::cli
