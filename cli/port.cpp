// hvrun port CONTAINER [PRIVATE_PORT[/PROTO]]: its published ports, as
// docker port prints them ("80/tcp -> 0.0.0.0:8080").
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/network.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_port(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("port", "List a container's published ports (-p)");
  auto name = std::make_shared<std::string>();
  auto which = std::make_shared<std::string>();
  sub->add_option("container", *name, "Container name or id")->required();
  sub->add_option("private_port", *which, "Only this container port (PORT or PORT/PROTO)");
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::Records rec(ctx.root());
      const engine::ContainerConfig c = rec.load_config(rec.resolve(*name));
      std::string want = *which;
      if (!want.empty() && want.find('/') == std::string::npos) want += "/tcp";
      bool any = false;
      for (const auto& p : engine::parse_ports(c.publish)) {
        const std::string priv = std::to_string(p.port) + "/" + p.proto;
        if (!want.empty() && priv != want) continue;
        const std::string ip = p.host_ip.empty() ? "0.0.0.0" : p.host_ip;
        if (want.empty()) std::printf("%s -> %s:%u\n", priv.c_str(), ip.c_str(), unsigned(p.host_port));
        else std::printf("%s:%u\n", ip.c_str(), unsigned(p.host_port));
        any = true;
      }
      if (!want.empty() && !any) throw Error("no public port '" + want + "' published for " + c.name);
      return 0;
    };
  });
}

}  // namespace hvrun::cli
