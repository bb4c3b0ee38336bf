// Output shared by subcommands: --format for inspect and list commands,
// Docker's time text, and parse errors as one Docker-like line.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include "cli/commands.hpp"
#include "util/strings.hpp"

namespace hvrun::cli {

std::function<std::optional<Template>()> add_inspect_format(CLI::App* sub) {
  auto format = std::make_shared<std::string>();
  sub->add_option("-f,--format", *format, "Go-template-like format, e.g. '{{.State.Status}}' or '{{json .Config}}'");
  return [format]() -> std::optional<Template> {
    if (format->empty()) return std::nullopt;
    return Template::parse(*format);
  };
}

std::string docker_time(const std::string& rfc3339) {
  std::tm tm{};
  if (!strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return rfc3339;
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
  return buf;
}

void add_list_format(CLI::App* sub, std::string& format) {
  sub->add_option("--format", format, "Go-template-like format, e.g. '{{.ID}}\\t{{.Names}}'; 'table ...' adds a header row");
}

void print_inspected(const std::vector<nlohmann::json>& objs, const std::optional<Template>& format) {
  if (format) {
    std::fputs(format_objects(*format, objs).c_str(), stdout);
    return;
  }
  std::printf("%s\n", nlohmann::json(objs).dump(4).c_str());
}

std::string parse_error_text(const CLI::App& app, const CLI::ParseError& e) {
  std::string command = app.get_name();
  for (const CLI::App* cur = &app; !cur->get_subcommands().empty();) {
    cur = cur->get_subcommands().front();
    command += " " + cur->get_name();
  }
  std::string what = e.what();
  if (dynamic_cast<const CLI::ExtrasError*>(&e)) {
    // "The following argument(s) was/were not expected: W..." -> the first
    // flag among them (Docker names one), else the first word.
    std::string words = what.substr(what.find(": ") == std::string::npos ? 0 : what.find(": ") + 2);
    std::vector<std::string> list;
    for (size_t i = 0, sp; i < words.size(); i = sp + 1) {
      sp = words.find(' ', i);
      if (sp == std::string::npos) sp = words.size();
      if (sp > i) list.push_back(words.substr(i, sp - i));
    }
    auto flag = std::find_if(list.begin(), list.end(), [](const std::string& w) { return w.size() > 1 && w[0] == '-'; });
    if (flag != list.end()) what = "unknown flag: " + *flag;
    else if (!list.empty()) what = "unexpected argument: " + list.front();
  }
  // Every hvrun error line starts "hvrun: "; the subcommand follows, once
  // (a ValidationError's text already starts with its command's name).
  std::string sub = command.substr(command.find(' ') == std::string::npos ? command.size() : command.find(' ') + 1);
  std::string last = sub.substr(sub.rfind(' ') == std::string::npos ? 0 : sub.rfind(' ') + 1);
  if (!last.empty() && what.rfind(last + ": ", 0) == 0) what = what.substr(last.size() + 2);
  return "hvrun: " + (sub.empty() ? "" : sub + ": ") + what + "\nSee '" + command + " --help'.\n";
}

void print_columns(const std::vector<std::vector<std::string>>& rows, size_t min_width) {
  // Docker's tabwriter: each column as wide as its widest cell plus 3, and
  // at least min_width.
  std::vector<size_t> w;
  for (const auto& r : rows) {
    if (w.size() < r.size()) w.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max({w[i], display_width(r[i]) + 3, min_width});
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - display_width(r[i]), ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace hvrun::cli
