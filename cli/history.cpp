// hvrun history [--no-trunc] [-q] [-H=false] [--format T] IMAGE
// (--format fields: ID CreatedSince CreatedAt CreatedBy Size Comment, and
// Author, which docker's history does not have)
// hvrun history --graph: how the store's images descend from each other.
#include <cstdio>
#include <ctime>

#include "cli/commands.hpp"
#include "image/history.hpp"
#include "image/oci.hpp"
#include "image/present.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

namespace {

std::string truncated(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(0, n - 3) + "...";
}

// A command as one table cell: tabs become spaces (as docker does), and in
// the truncated view every run of white space (a multi-line `sh -c` script)
// becomes one space, so that each layer stays one line of the table.
std::string one_line(const std::string& s, bool collapse) {
  std::string out;
  for (char c : s) {
    const bool space = c == '\t' || (collapse && (c == '\n' || c == '\r' || c == ' '));
    if (!space) out += c;
    else if (!collapse) out += ' ';
    else if (!out.empty() && out.back() != ' ') out += ' ';
  }
  if (collapse && !out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

void register_history(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string image, format;
    bool no_trunc = false, quiet = false, human = true, graph = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("history", "Show an image's history, or with --graph how the store's images descend");
  sub->add_flag("--no-trunc", a->no_trunc, "Do not truncate output");
  sub->add_flag("-q,--quiet", a->quiet, "Only image ids");
  sub->add_flag("-H,--human", a->human, "Sizes and dates in human form (default true)")->default_val(true);
  sub->add_flag("--graph", a->graph, "Every image of the store as a tree of shared layer prefixes");
  add_list_format(sub, a->format);
  sub->add_option("image", a->image, "Image name[:tag] or id");
  sub->callback([&ctx, &action, a] {
    action = [&ctx, a]() -> int {
      image::Store store(ctx.root());
      const std::time_t now = std::time(nullptr);
      if (a->graph) {
        if (!a->image.empty()) throw Error("history --graph shows the whole store: give no image");
        std::fputs(image::history_graph(store, now).c_str(), stdout);
        return 0;
      }
      if (a->image.empty()) throw Error("history: an image is required (or --graph)");
      std::optional<Template> tmpl;
      if (!a->format.empty()) {
        tmpl = Template::parse(a->format);
        check_fields(*tmpl, a->format, {"ID", "CreatedSince", "CreatedAt", "CreatedBy", "Size", "Comment", "Author"});
      }
      auto img = store.resolve(a->image);
      auto rows = image::image_history(store, img);
      auto id_of = [&](const image::HistoryRow& r) {
        if (r.id.empty()) return std::string("<missing>");
        return a->no_trunc ? "sha256:" + r.id : image::short_id(r.id);  // -q as well (docker's)
      };
      if (a->quiet) {
        for (auto& r : rows) std::printf("%s\n", id_of(r).c_str());
        return 0;
      }
      std::vector<nlohmann::json> objs;
      for (auto& r : rows) {
        std::string by = a->no_trunc ? one_line(r.created_by, false) : truncated(one_line(r.created_by, true), 45);
        objs.push_back({{"ID", id_of(r)},
                        {"CreatedSince", r.created.empty() ? "N/A" : image::human_age(r.created, now)},
                        {"CreatedAt", r.created.empty() ? "N/A" : docker_time(r.created)},
                        {"CreatedBy", by},
                        {"Size", a->human ? image::human_size(r.size) : std::to_string(r.size)},
                        {"Comment", r.comment},
                        {"Author", r.author}});
      }
      if (!tmpl) {
        tmpl = Template::parse("table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}");
        if (!a->human) tmpl = Template::parse("table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}");
      }
      std::fputs(format_objects(*tmpl, objs,
                                {{"ID", "IMAGE"},
                                 {"CreatedSince", "CREATED"},
                                 {"CreatedAt", "CREATED AT"},
                                 {"CreatedBy", "CREATED BY"},
                                 {"Size", "SIZE"},
                                 {"Comment", "COMMENT"},
                                 {"Author", "AUTHOR"}})
                     .c_str(),
                 stdout);
      return 0;
    };
  });
}

}  // namespace hvrun::cli
