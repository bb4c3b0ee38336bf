// hvrun network create|ls|inspect|rm|prune|connect|disconnect
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/network.hpp"
#include "engine/records.hpp"
#include "net/store.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_network(CLI::App& app, Context& ctx, Action& action) {
  auto* net = app.add_subcommand("network", "Manage networks");
  net->require_subcommand(1);

  auto* create = net->add_subcommand("create", "Create a network");
  auto cname = std::make_shared<std::string>();
  auto subnet = std::make_shared<std::string>();
  create->add_option("name", *cname, "Network name")->required();
  create->add_option("--subnet", *subnet, "Subnet in CIDR form (default: a free 10.67.N.0/24)");
  create->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      net::Network n = net::NetworkStore(ctx.root()).create(*cname, *subnet);
      std::printf("%s\n", n.name.c_str());
      return 0;
    };
  });

  auto* ls = net->add_subcommand("ls", "List networks");
  ls->alias("list");
  auto quiet = std::make_shared<bool>(false);
  ls->add_flag("-q,--quiet", *quiet, "Only names");
  ls->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      net::NetworkStore store(ctx.root());
      auto nets = store.list();
      if (!*quiet) std::printf("%-20s %-16s %-18s %-15s %s\n", "NAME", "BRIDGE", "SUBNET", "GATEWAY", "CONTAINERS");
      for (const auto& n : nets) {
        if (*quiet) {
          std::printf("%s\n", n.name.c_str());
          continue;
        }
        size_t used = store.leases(n.name).size();
        std::printf("%-20s %-16s %-18s %-15s %zu\n", n.name.c_str(), n.bridge.c_str(), n.subnet.c_str(),
                    n.gateway.c_str(), used);
      }
      return 0;
    };
  });

  auto* inspect = net->add_subcommand("inspect", "Show a network as JSON");
  auto inames = std::make_shared<std::vector<std::string>>();
  inspect->add_option("names", *inames, "Networks")->required();
  auto format = add_inspect_format(inspect);
  inspect->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      std::optional<Template> tmpl = format();
      net::NetworkStore store(ctx.root());
      std::vector<nlohmann::json> out;
      for (const auto& n : *inames) {
        nlohmann::json j = store.get(n);
        j["containers"] = store.leases(n);
        out.push_back(j);
      }
      if (tmpl) std::fputs(format_objects(*tmpl, out).c_str(), stdout);
      else std::printf("%s\n", nlohmann::json(out).dump(2).c_str());
      return 0;
    };
  });

  auto* rm = net->add_subcommand("rm", "Remove networks");
  rm->alias("remove");
  auto rnames = std::make_shared<std::vector<std::string>>();
  rm->add_option("names", *rnames, "Networks")->required();
  rm->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      net::NetworkStore store(ctx.root());
      int rc = 0;
      for (const auto& n : *rnames) {
        try {
          store.remove(n);
          std::printf("%s\n", n.c_str());
        } catch (const Error& e) {
          std::fprintf(stderr, "hvrun: %s\n", e.what());
          rc = kHvrunErrorStatus;
        }
      }
      return rc;
    };
  });

  // Docker's `network connect [--alias A] NETWORK CONTAINER` and
  // `network disconnect [-f] NETWORK CONTAINER` (engine/network.hpp).
  auto* connect = net->add_subcommand("connect", "Connect a container to a network");
  auto cnet = std::make_shared<std::string>();
  auto ccontainer = std::make_shared<std::string>();
  auto aliases = std::make_shared<std::vector<std::string>>();
  connect->add_option("network", *cnet, "Network")->required();
  connect->add_option("container", *ccontainer, "Container")->required();
  connect->add_option("--alias", *aliases, "Another name the network's members reach the container by");
  connect->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::connect_network(engine::Records(ctx.root()), *ccontainer, *cnet, *aliases);
      return 0;
    };
  });

  auto* disconnect = net->add_subcommand("disconnect", "Disconnect a container from a network");
  auto dnet = std::make_shared<std::string>();
  auto dcontainer = std::make_shared<std::string>();
  disconnect->add_option("network", *dnet, "Network")->required();
  disconnect->add_option("container", *dcontainer, "Container")->required();
  auto force = std::make_shared<bool>(false);
  disconnect->add_flag("-f,--force", *force, "Accepted, as Docker's (nothing waits here)");
  disconnect->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::disconnect_network(engine::Records(ctx.root()), *dcontainer, *dnet);
      return 0;
    };
  });

  auto* prune = net->add_subcommand("prune", "Remove unused networks and stale address leases");
  prune->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      for (const auto& n : net::NetworkStore(ctx.root()).prune()) std::printf("%s\n", n.c_str());
      return 0;
    };
  });
}

}  // namespace hvrun::cli
