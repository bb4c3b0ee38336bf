// hvrun ps [-a] [-q]
#include <cstdio>
#include <ctime>

#include "cli/commands.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

namespace {

// RFC 3339 (UTC) -> seconds since the epoch; 0 when unparsable.
time_t parse_time(const std::string& s) {
  std::tm tm{};
  if (s.size() < 19 || !strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return timegm(&tm);
}

// Docker's "About a minute", "5 seconds", "2 hours".
std::string human_duration(long s) {
  if (s < 1) return "Less than a second";
  if (s == 1) return "1 second";
  if (s < 60) return std::to_string(s) + " seconds";
  long m = s / 60;
  if (m == 1) return "About a minute";
  if (m < 60) return std::to_string(m) + " minutes";
  long h = m / 60;
  if (h == 1) return "About an hour";
  if (h < 48) return std::to_string(h) + " hours";
  return std::to_string(h / 24) + " days";
}

std::string since(const std::string& t) {
  time_t v = parse_time(t);
  if (!v) return "";
  return human_duration(static_cast<long>(std::time(nullptr) - v));
}

std::string command_of(const engine::ContainerConfig& c) {
  std::string cmd;
  for (const auto& a : c.spec.args) cmd += (cmd.empty() ? "" : " ") + a;
  if (cmd.size() > 20) cmd = cmd.substr(0, 17) + "...";
  return "\"" + cmd + "\"";
}

}  // namespace

void register_ps(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("ps", "List containers");
  auto all = std::make_shared<bool>(false);
  auto quiet = std::make_shared<bool>(false);
  sub->add_flag("-a,--all", *all, "Show all containers (default: running only)");
  sub->add_flag("-q,--quiet", *quiet, "Only print container ids");
  sub->callback([all, quiet, &ctx, &action] {
    action = [all, quiet, &ctx]() -> int {
      engine::Records rec(ctx.root());
      rec.collect_garbage();
      std::vector<std::vector<std::string>> rows;
      rows.push_back({"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"});
      auto ids = rec.ids();
      for (auto it = ids.rbegin(); it != ids.rend(); ++it) {  // newest first, as Docker
        const std::string& id = *it;
        engine::ContainerConfig c;
        engine::State st;
        try {
          c = rec.load_config(id);
          st = rec.refresh(id);
        } catch (const Error&) {
          continue;  // removed while we looked
        }
        if (!*all && st.status != "running") continue;
        if (*quiet) {
          std::printf("%s\n", id.substr(0, 12).c_str());
          continue;
        }
        std::string status;
        if (st.status == "running") status = "Up " + since(st.started_at);
        else if (st.status == "exited")
          status = "Exited (" + std::to_string(st.exit_code) + ") " + since(st.finished_at) + " ago";
        else status = "Created";
        rows.push_back({id.substr(0, 12), c.image, command_of(c), since(c.created) + " ago", status, c.name});
      }
      if (*quiet) return 0;
      std::vector<size_t> w(rows[0].size(), 0);
      for (const auto& r : rows)
        for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
      for (const auto& r : rows) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) {
          line += r[i];
          if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 3, ' ');
        }
        std::printf("%s\n", line.c_str());
      }
      return 0;
    };
  });
}

}  // namespace hvrun::cli
