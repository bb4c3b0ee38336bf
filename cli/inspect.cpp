// hvrun inspect CONTAINER...   (Docker-shaped JSON array)
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

namespace {

nlohmann::json describe(const engine::ContainerConfig& c, const engine::State& st) {
  using nlohmann::json;
  const auto& s = c.spec;
  json binds = json::array();
  for (const auto& m : s.mounts) binds.push_back(m.source + ":" + m.target + (m.readonly ? ":ro" : ""));
  json secopt = json::array();
  if (s.seccomp == "unconfined" || s.seccomp == "strict") secopt.push_back("seccomp=" + s.seccomp);
  else if (s.seccomp != "default") secopt.push_back("seccomp=<profile>");
  if (s.no_new_privileges) secopt.push_back("no-new-privileges");
  std::string path = s.args.empty() ? "" : s.args[0];
  json args = s.args.size() > 1 ? json(std::vector<std::string>(s.args.begin() + 1, s.args.end())) : json::array();
  return json{
      {"Id", c.id},
      {"Created", c.created},
      {"Path", path},
      {"Args", args},
      {"State",
       {{"Status", st.status},
        {"Running", st.status == "running"},
        {"OOMKilled", st.oom_killed},
        {"Pid", st.status == "running" ? st.pid : 0},
        {"ExitCode", st.exit_code},
        {"Error", st.error},
        {"StartedAt", st.started_at},
        {"FinishedAt", st.finished_at}}},
      {"Image", c.image_id},
      {"Name", c.name},
      {"Mode", c.mode},
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
        {"NetworkMode", s.net == "bridge" ? s.netcfg.network : s.net},
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

}  // namespace

void register_inspect(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("inspect", "Show a container's configuration and state as JSON");
  auto names = std::make_shared<std::vector<std::string>>();
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::Records rec(ctx.root());
      nlohmann::json out = nlohmann::json::array();
      int rc = 0;
      for (const auto& n : *names) {
        try {
          std::string id = rec.resolve(n);
          out.push_back(describe(rec.load_config(id), rec.refresh(id)));
        } catch (const Error& e) {
          std::fprintf(stderr, "hvrun: %s\n", e.what());
          rc = 125;
        }
      }
      std::printf("%s\n", out.dump(4).c_str());
      return rc;
    };
  });
}

}  // namespace hvrun::cli
