// hvrun inspect [--type container|image] [-f FORMAT] NAME...
// Docker-shaped JSON array; a name is a container or, when no container has
// it, an image (as `docker inspect`).
#include <cstdio>
#include <string>

#include "cli/commands.hpp"
#include "engine/describe.hpp"
#include "engine/records.hpp"
#include "image/present.hpp"
#include "image/store.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

namespace {

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
              const engine::ContainerConfig c = rec.load_config(id);
              nlohmann::json j = engine::inspect_json(c, rec.refresh(id));
              j["NetworkSettings"]["Networks"] = engine::networks_json(ctx.root(), c);
              out.push_back(std::move(j));
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
