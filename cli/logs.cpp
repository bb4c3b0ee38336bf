// hvrun logs [-f] [-t] [--tail N] CONTAINER
#include <unistd.h>

#include "cli/commands.hpp"
#include "engine/logs.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_logs(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("logs", "Print a container's logs");
  auto follow = std::make_shared<bool>(false);
  auto ts = std::make_shared<bool>(false);
  auto tail = std::make_shared<std::string>("all");
  auto name = std::make_shared<std::string>();
  sub->add_flag("-f,--follow", *follow, "Follow the output until the container exits");
  sub->add_flag("-t,--timestamps", *ts, "Show timestamps");
  sub->add_option("-n,--tail", *tail, "Number of lines from the end (default: all)");
  sub->add_option("container", *name, "Container name or id")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::LogReadOptions o;
      o.follow = *follow;
      o.timestamps = *ts;
      if (*tail != "all") {
        char* end = nullptr;
        long long n = std::strtoll(tail->c_str(), &end, 10);
        if (tail->empty() || *end || n < 0) throw Error("invalid value \"" + *tail + "\" for --tail: expected a number or all");
        o.tail = static_cast<size_t>(n);
      }
      engine::Records rec(ctx.root());
      std::string id = rec.resolve(*name);
      engine::print_logs(rec.log_path(id), o, STDOUT_FILENO, STDERR_FILENO, [&rec, &id] {
        try {
          return rec.refresh(id).status != "exited";
        } catch (const Error&) {
          return false;  // removed (--rm)
        }
      });
      return 0;
    };
  });
}

}  // namespace hvrun::cli
