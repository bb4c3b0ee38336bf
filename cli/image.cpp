// hvrun image import|ls|inspect|rm|prune
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <unistd.h>

#include "builder/cache.hpp"
#include "cli/commands.hpp"
#include "image/present.hpp"
#include "image/prune.hpp"
#include "image/store.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

namespace {
struct ImageOpts {
  std::string path;
  std::string name;
  bool quiet = false;
  bool force = false;
  bool all = false;
  std::string format;
  std::vector<std::string> refs;
  std::string reference;  // image ls NAME[:TAG]
};
}  // namespace

// Docker's fields for `images --format`.
const std::vector<std::string> kImageFields = {"Repository", "Tag", "ID", "CreatedAt", "CreatedSince", "Size"};
const std::map<std::string, std::string> kImageHeaders = {
    {"ID", "IMAGE ID"}, {"CreatedAt", "CREATED AT"}, {"CreatedSince", "CREATED"}};

int list_images(const Context& ctx, bool quiet, const std::string& format, bool all, const std::string& reference) {
  std::optional<Template> tmpl;
  if (!format.empty()) {
    tmpl = Template::parse(format);
    check_fields(*tmpl, format, kImageFields);
  }
  image::Store store(ctx.root());
  auto imgs = store.list();
  if (!all) {
    // Intermediate images (a build's steps): untagged, and another image's
    // parent or a build step's result (a stage's last step).
    std::set<std::string> parents = builder::BuildCache(store).image_ids();
    for (auto& i : imgs)
      if (!i.parent.empty()) parents.insert(i.parent);
    std::erase_if(imgs, [&](const image::ImageRecord& i) { return i.tags.empty() && parents.count(i.id); });
  }
  if (!reference.empty()) {
    // `images NAME[:TAG]`: only the tags that match, and the images that have one (Docker's).
    std::vector<image::ImageRecord> kept;
    for (auto i : imgs) {
      std::erase_if(i.tags, [&](const std::string& t) { return t != reference && t.substr(0, t.rfind(':')) != reference; });
      if (!i.tags.empty()) kept.push_back(std::move(i));
    }
    imgs = std::move(kept);
  }
  std::time_t now = std::time(nullptr);
  if (quiet) {
    for (auto& i : imgs) std::printf("%s\n", i.id.substr(0, 12).c_str());
  } else if (tmpl) {
    std::vector<nlohmann::json> objs;
    for (const auto& r : image::image_rows(imgs))
      objs.push_back({{"Repository", r.repository},
                      {"Tag", r.tag},
                      {"ID", r.image->id.substr(0, 12)},
                      {"CreatedAt", docker_time(r.image->created)},
                      {"CreatedSince", image::human_age(r.image->created, now)},
                      {"Size", image::human_size(r.image->size)}});
    std::fputs(format_objects(*tmpl, objs, kImageHeaders).c_str(), stdout);
  } else {
    std::fputs(image::images_table(imgs, now).c_str(), stdout);
  }
  return 0;
}

int remove_images(const Context& ctx, const std::vector<std::string>& refs, bool force) {
  image::Store store(ctx.root());
  int rc = 0;
  for (auto& r : refs) {
    try {
      for (auto& line : store.remove(r, force)) std::printf("%s\n", line.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "hvrun: %s\n", e.what());
      rc = kHvrunErrorStatus;
    }
  }
  return rc;
}

namespace {

// Docker's prune question, asked only at a terminal (a script gets on with it).
bool confirmed(bool all) {
  if (!::isatty(STDIN_FILENO)) return true;
  std::printf("WARNING! This will remove all %s.\nAre you sure you want to continue? [y/N] ",
              all ? "images without at least one container associated to them" : "dangling images");
  std::fflush(stdout);
  char buf[16] = {};
  if (!std::fgets(buf, sizeof buf, stdin)) return false;
  return buf[0] == 'y' || buf[0] == 'Y';
}

}  // namespace

void register_image(CLI::App& app, Context& ctx, Action& action) {
  auto opts = std::make_shared<ImageOpts>();
  auto* sub = app.add_subcommand("image", "Manage images (import, ls, inspect, rm, prune)");
  sub->require_subcommand(1);

  auto* imp = sub->add_subcommand("import", "Import a rootfs tar/dir, an OCI layout or a docker-save tar");
  imp->add_option("path", opts->path, "Tar (plain/gz/zstd/xz), directory, OCI layout or docker save tar; - reads it from stdin")->required();
  imp->add_option("-n,--name", opts->name, "Tag the image as NAME[:TAG]");
  imp->callback([&ctx, &action, opts] {
    action = [&ctx, opts]() -> int {
      image::Store store(ctx.root());
      std::optional<std::string> name;
      if (!opts->name.empty()) name = opts->name;
      image::ImportNotes notes;
      auto rec = store.import(opts->path, name, &notes);
      if (notes.dropped_devices)
        std::fprintf(stderr, "hvrun: warning: %llu device node%s in %s left out of the image (containers get /dev from a tmpfs)\n",
                     static_cast<unsigned long long>(notes.dropped_devices), notes.dropped_devices == 1 ? "" : "s",
                     opts->path.c_str());
      std::printf("sha256:%s\n", rec.id.c_str());
      return 0;
    };
  });

  auto* ls = sub->add_subcommand("ls", "List images");
  ls->alias("list");
  ls->add_flag("-q,--quiet", opts->quiet, "Only show image ids");
  ls->add_flag("-a,--all", opts->all, "Show intermediate images too (a build's steps)");
  add_list_format(ls, opts->format);
  ls->add_option("reference", opts->reference, "Only this repository (NAME or NAME:TAG)");
  ls->callback([&ctx, &action, opts] {
    action = [&ctx, opts] { return list_images(ctx, opts->quiet, opts->format, opts->all, opts->reference); };
  });

  auto* ins = sub->add_subcommand("inspect", "Show images as JSON");
  ins->add_option("ref", opts->refs, "Image name[:tag] or id")->required();
  auto format = add_inspect_format(ins);
  ins->callback([&ctx, &action, opts, format] {
    action = [&ctx, opts, format]() -> int {
      std::optional<Template> tmpl = format();
      image::Store store(ctx.root());
      std::vector<nlohmann::json> out;
      int rc = 0;
      for (auto& r : opts->refs) {
        try {
          out.push_back(image::inspect_json(store, store.resolve(r)));
        } catch (const std::exception& e) {
          std::fprintf(stderr, "hvrun: %s\n", e.what());
          rc = kHvrunErrorStatus;
        }
      }
      print_inspected(out, tmpl);
      return rc;
    };
  });

  auto* rm = sub->add_subcommand("rm", "Remove images (refused while a container uses one, unless -f)");
  rm->alias("remove");
  rm->add_flag("-f,--force", opts->force, "Remove even if containers use it or several tags point at it");
  rm->add_option("ref", opts->refs, "Image name[:tag] or id")->required();
  rm->callback([&ctx, &action, opts] {
    action = [&ctx, opts] { return remove_images(ctx, opts->refs, opts->force); };
  });

  auto* prune = sub->add_subcommand("prune", "Remove dangling images (-a: every image no container uses), then unused layers");
  prune->add_flag("-a,--all", opts->all, "Remove every image no container uses, not only untagged ones");
  prune->add_flag("-f,--force", opts->force, "Do not ask (asked only when stdin is a terminal)");
  prune->callback([&ctx, &action, opts] {
    action = [&ctx, opts]() -> int {
      if (!opts->force && !confirmed(opts->all)) return 0;
      image::Store store(ctx.root());
      image::PruneReport r = image::prune_images(store, opts->all);
      if (!r.lines.empty()) {
        std::printf("Deleted Images:\n");
        for (auto& l : r.lines) std::printf("%s\n", l.c_str());
        std::printf("\n");
      }
      std::printf("Total reclaimed space: %s\n", image::human_size(r.reclaimed).c_str());
      return 0;
    };
  });
}

}  // namespace hvrun::cli
