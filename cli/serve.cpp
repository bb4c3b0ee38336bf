// hvrun serve [--host unix:///run/hvrun/hvrun.sock] [--group hvrun]: the
// Docker Engine API (api/docker.hpp) on a unix socket, root:GROUP 0660.
// Containers keep their own monitors: stopping the server stops no container.
// Callers other than root are tenants (api/docker.hpp: TenantLimits).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "api/docker.hpp"
#include "api/http.hpp"
#include "cli/commands.hpp"
#include "engine/engine.hpp"
#include "engine/options.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/self_exe.hpp"

namespace hvrun::cli {

namespace {
api::Server* g_server = nullptr;
void on_stop_signal(int) {
  if (g_server) g_server->stop();
}
}  // namespace

void register_serve(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("serve", "Serve the Docker Engine API on a unix socket (docker and docker-py drive hvrun)");
  auto host = std::make_shared<std::string>("unix:///run/hvrun/hvrun.sock");
  auto group = std::make_shared<std::string>("hvrun");
  sub->add_option("-H,--host", *host, "Where to listen: unix:///PATH")->capture_default_str();
  sub->add_option("--group", *group, "Group that may use the socket (0660 root:GROUP)")->capture_default_str();
  auto limits = std::make_shared<api::TenantLimits>();
  auto tenant_memory = std::make_shared<std::string>();
  sub->add_option("--tenant-containers", limits->max_containers, "Containers each non-root caller may have (0: no limit)")
      ->capture_default_str();
  sub->add_option("--tenant-memory", *tenant_memory, "Memory (-m) each non-root caller's containers may ask in all (e.g. 2g)");
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      if (host->rfind("unix://", 0) != 0 || host->size() <= 7 || (*host)[7] != '/')
        throw Error("invalid --host \"" + *host + "\": hvrun serves on unix:///ABSOLUTE/PATH only");
      const std::string path = host->substr(7);
      if (auto slash = path.rfind('/'); slash > 0) mkdir_p(path.substr(0, slash), 0755);
      const std::string exe = self_exe_path();
      if (exe.empty()) throw Error("cannot find the hvrun binary (/proc/self/exe)");
      // Before the socket exists: the monitors forked here must not inherit it.
      try {
        for (const auto& id : engine::restart_by_policy(engine::Records(ctx.root())))
          std::fprintf(stderr, "hvrun serve: started %s again (its restart policy)\n", id.substr(0, 12).c_str());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "hvrun serve: restart policies not applied: %s\n", e.what());
      }
      api::ServerOptions so;
      so.socket_path = path;
      so.group = *group;
      so.upload_dir = ctx.root() + "/serve-tmp";  // beside the API's other scratch files (api/docker_shared.hpp)
      api::Server server(so);
      server.listen();
      if (!tenant_memory->empty()) limits->max_memory = engine::parse_memory(*tenant_memory);
      api::DockerApi docker(ctx.root(), exe, *limits);
      docker.start_reaper();
      g_server = &server;
      struct sigaction sa {};
      sa.sa_handler = on_stop_signal;
      ::sigaction(SIGINT, &sa, nullptr);
      ::sigaction(SIGTERM, &sa, nullptr);
      ::signal(SIGPIPE, SIG_IGN);
      std::fprintf(stderr, "hvrun serve: listening on unix://%s (store %s)\n", path.c_str(), ctx.root().c_str());
      server.serve([&docker](const api::Request& req, api::Connection& conn) { docker.handle(req, conn); });
      g_server = nullptr;
      ::unlink(path.c_str());
      // Connections still streaming run on detached threads that use the
      // server and the API: end the process here, with nothing destroyed
      // under them (every container keeps its own monitor).
      std::fflush(nullptr);
      std::_Exit(0);
    };
  });
}

}  // namespace hvrun::cli
