// hvrun ps [-a] [-q] [-n N] [-l] [--no-trunc] [--filter KEY=VALUE]... [--format TEMPLATE]
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>

#include "cli/commands.hpp"
#include "engine/describe.hpp"
#include "engine/pause.hpp"
#include "engine/records.hpp"
#include "image/store.hpp"
#include "util/error.hpp"
#include "util/format.hpp"

namespace hvrun::cli {

namespace {

// docker ps's COMMAND: cut to 20 characters with "…" (unless --no-trunc),
// then quoted as Go's strconv.Quote does.
std::string command_of(const engine::ContainerConfig& c, bool trunc) {
  std::string cmd;
  for (const auto& a : c.spec.args) cmd += (cmd.empty() ? "" : " ") + a;
  if (trunc) {
    size_t chars = 0, cut = std::string::npos;
    for (size_t i = 0; i < cmd.size(); ++i) {
      if ((static_cast<unsigned char>(cmd[i]) & 0xC0) == 0x80) continue;  // inside a UTF-8 character
      if (++chars == 20) cut = i;
      if (chars == 21) {
        cmd = cmd.substr(0, cut) + "\u2026";
        break;
      }
    }
  }
  std::string q = "\"";
  for (unsigned char ch : cmd) {
    if (ch == '"' || ch == '\\') q += std::string("\\") + static_cast<char>(ch);
    else if (ch == '\n') q += "\\n";
    else if (ch == '\t') q += "\\t";
    else if (ch < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      q += buf;
    } else {
      q += static_cast<char>(ch);
    }
  }
  return q + "\"";
}

// "[HOSTIP:]HOSTPORT:PORT/PROTO" -> Docker's "0.0.0.0:8080->80/tcp".
std::string ports_of(const engine::ContainerConfig& c) {
  std::string out;
  for (const auto& p : c.publish) {
    size_t last = p.rfind(':');
    if (last == std::string::npos) continue;
    std::string host = p.substr(0, last);
    if (host.find(':') == std::string::npos) host = "0.0.0.0:" + host;
    out += (out.empty() ? "" : ", ") + host + "->" + p.substr(last + 1);
  }
  return out;
}

// `--filter KEY=VALUE` (engine::ContainerFilter says what each key means).
engine::ContainerFilter parse_filters(const std::vector<std::string>& args, const std::string& root) {
  std::map<std::string, std::vector<std::string>> by_key;
  for (const auto& a : args) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("invalid filter \"" + a + "\": expected KEY=VALUE (keys: ancestor, exited, id, label, name, network, status)");
    by_key[a.substr(0, eq)].push_back(a.substr(eq + 1));
  }
  return engine::ContainerFilter::parse(by_key, root);
}

const std::vector<std::string> kFields = {"ID", "Image", "Command", "CreatedAt", "RunningFor", "Status",
                                          "State", "Names", "Ports", "Mode", "Labels", "Networks"};

// {{.Labels}}: "k=v,k2=v2", as docker ps.
std::string labels_text(const engine::ContainerConfig& c) {
  std::string out;
  for (const auto& [k, v] : c.labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}
// {{.Networks}}: the networks it is on, "a,b", as docker ps.
std::string networks_text(const std::string& root, const engine::ContainerConfig& c) {
  std::string out;
  const nlohmann::json networks = engine::networks_json(root, c);
  for (auto it = networks.begin(); it != networks.end(); ++it) out += (out.empty() ? "" : ",") + it.key();
  return out;
}
const std::map<std::string, std::string> kHeaders = {{"ID", "CONTAINER ID"}, {"CreatedAt", "CREATED AT"},
                                                     {"RunningFor", "CREATED"}};

}  // namespace

void register_ps(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("ps", "List containers");
  auto all = std::make_shared<bool>(false);
  auto quiet = std::make_shared<bool>(false);
  sub->add_flag("-a,--all", *all, "Show all containers (default: running only)");
  sub->add_flag("-q,--quiet", *quiet, "Only print container ids");
  auto no_trunc = std::make_shared<bool>(false);
  auto last = std::make_shared<int>(-1);
  auto latest = std::make_shared<bool>(false);
  sub->add_flag("--no-trunc", *no_trunc, "Show whole ids and commands");
  sub->add_option("-n,--last", *last, "Show the N newest containers (any state)");
  sub->add_flag("-l,--latest", *latest, "Show the newest container (any state)");
  auto filters = std::make_shared<std::vector<std::string>>();
  auto format = std::make_shared<std::string>();
  sub->add_option("-f,--filter", *filters, "Filter: name=SUBSTRING, id=PREFIX, status=created|running|exited, "
                                           "ancestor=IMAGE, label=KEY[=VALUE] (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  add_list_format(sub, *format);
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      std::optional<Template> tmpl;
      if (!format->empty()) {
        tmpl = Template::parse(*format);
        check_fields(*tmpl, *format, kFields);
      }
      const engine::ContainerFilter f = parse_filters(*filters, ctx.root());
      engine::Records rec(ctx.root());
      rec.collect_garbage();
      std::vector<nlohmann::json> objs;
      std::vector<std::vector<std::string>> rows;
      rows.push_back({"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"});
      // -n N and -l: the newest N of every state (Docker's).
      const int limit = *latest ? 1 : *last;
      const bool any_state = *all || limit >= 0;
      int shown = 0;
      auto ids = rec.ids();
      for (auto it = ids.rbegin(); it != ids.rend(); ++it) {  // newest first, as Docker
        if (limit >= 0 && shown >= limit) break;
        const std::string id = *no_trunc ? *it : it->substr(0, 12);
        engine::ContainerConfig c;
        engine::State st;
        try {
          c = rec.load_config(*it);
          st = rec.refresh(*it);
        } catch (const Error&) {
          continue;  // removed while we looked
        }
        if (!any_state && !f.has("status") && st.status != "running") continue;
        if (!f.match(c, st)) continue;
        ++shown;
        if (*quiet) {
          std::printf("%s\n", id.c_str());
          continue;
        }
        const std::string status = engine::status_text(c, st);
        const std::string state = engine::status_of(c, st);
        const std::string command = command_of(c, !*no_trunc);
        rows.push_back({id, c.image, command, engine::since(c.created) + " ago", status, ports_of(c), c.name});
        if (tmpl)
          objs.push_back({{"ID", id}, {"Image", c.image}, {"Command", command},
                          {"CreatedAt", docker_time(c.created)}, {"RunningFor", engine::since(c.created) + " ago"},
                          {"Status", status}, {"State", state}, {"Names", c.name}, {"Ports", ports_of(c)},
                          {"Mode", engine::to_string(c.mode)}, {"Labels", labels_text(c)},
                          {"Networks", networks_text(ctx.root(), c)}});
      }
      if (*quiet) return 0;
      if (tmpl) {
        std::fputs(format_objects(*tmpl, objs, kHeaders).c_str(), stdout);
        return 0;
      }
      print_columns(rows);
      return 0;
    };
  });
}

}  // namespace hvrun::cli
