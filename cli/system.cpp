// hvrun system df [--format TEMPLATE]: what the store takes on disk, as
// docker's table (TYPE TOTAL ACTIVE SIZE RECLAIMABLE).
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/records.hpp"
#include "image/present.hpp"
#include "image/prune.hpp"
#include "image/store.hpp"
#include "util/error.hpp"
#include "util/format.hpp"

namespace hvrun::cli {

namespace {

// "1.2MB (50%)" as docker writes reclaimable space (the share only when there is a size).
std::string reclaimable_text(const image::UsageRow& r) {
  std::string s = image::human_size(r.reclaimable);
  if (r.size > 0) s += " (" + std::to_string(r.reclaimable * 100 / r.size) + "%)";
  return s;
}

image::UsageRow container_usage(const std::string& root) {
  image::UsageRow u;
  engine::Records rec(root);
  for (const auto& id : rec.ids()) {
    engine::State st;
    try {
      st = rec.refresh(id);
    } catch (const Error&) {
      continue;  // removed while we looked
    }
    uint64_t b = image::disk_bytes(rec.dir(id));
    ++u.total;
    u.size += b;
    if (st.status == "running") ++u.active;
    else u.reclaimable += b;
  }
  return u;
}

const std::vector<std::string> kDfFields = {"Type", "TotalCount", "Active", "Size", "Reclaimable"};
const std::map<std::string, std::string> kDfHeaders = {{"TotalCount", "TOTAL"}};

}  // namespace

void register_system(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("system", "Manage hvrun (df)");
  sub->require_subcommand(1);
  auto format = std::make_shared<std::string>();
  auto* df = sub->add_subcommand("df", "Show the disk space images, containers and layers take");
  add_list_format(df, *format);
  df->callback([&ctx, &action, format] {
    action = [&ctx, format]() -> int {
      std::optional<Template> tmpl;
      if (!format->empty()) {
        tmpl = Template::parse(*format);
        check_fields(*tmpl, *format, kDfFields);
      }
      image::Store store(ctx.root());
      image::StoreUsage su = image::store_usage(store);
      image::UsageRow containers = container_usage(ctx.root());
      const std::vector<std::pair<std::string, image::UsageRow>> rows = {
          {"Images", su.images}, {"Containers", containers}, {"Layers", su.layers}};
      if (tmpl) {
        std::vector<nlohmann::json> objs;
        for (const auto& [type, r] : rows)
          objs.push_back({{"Type", type},
                          {"TotalCount", std::to_string(r.total)},
                          {"Active", std::to_string(r.active)},
                          {"Size", image::human_size(r.size)},
                          {"Reclaimable", reclaimable_text(r)}});
        std::fputs(format_objects(*tmpl, objs, kDfHeaders).c_str(), stdout);
        return 0;
      }
      std::vector<std::string> lines{"TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE"};
      for (const auto& [type, r] : rows)
        lines.push_back(type + "\t" + std::to_string(r.total) + "\t" + std::to_string(r.active) + "\t" +
                        image::human_size(r.size) + "\t" + reclaimable_text(r));
      std::fputs(align_columns(lines).c_str(), stdout);
      return 0;
    };
  });
}

}  // namespace hvrun::cli
