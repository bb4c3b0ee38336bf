#include "image/config_change.hpp"

#include <algorithm>
#include <cctype>

#include "util/error.hpp"

namespace hvrun::image {

using json = nlohmann::json;

namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Words split like Dockerfile key=value lists: whitespace separates, double
// or single quotes group (and are removed), a backslash escapes.
std::vector<std::string> words(const std::string& s, const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && quote != '\'' && i + 1 < s.size()) {
      cur += s[++i];
      in_word = true;
    } else if (quote) {
      if (c == quote) quote = 0;
      else cur += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (quote) throw Error("invalid -c '" + line + "': unterminated quote");
  if (in_word) out.push_back(cur);
  return out;
}

// JSON form (an array of strings) or shell form.
json command(const std::string& args, const std::string& line) {
  if (!args.empty() && args.front() == '[') {
    try {
      json j = json::parse(args);
      if (j.is_array() && std::all_of(j.begin(), j.end(), [](const json& x) { return x.is_string(); })) return j;
    } catch (const json::exception&) {
    }
    // Like docker: what is not a JSON array of strings is shell form.
  }
  (void)line;
  return json::array({"/bin/sh", "-c", args});
}

// Pairs "k=v ..." (or the legacy "k v" single pair).
std::vector<std::pair<std::string, std::string>> pairs(const std::string& args, const std::string& line,
                                                       bool allow_legacy) {
  std::vector<std::pair<std::string, std::string>> out;
  auto ws = words(args, line);
  if (ws.empty()) throw Error("invalid -c '" + line + "': needs at least one key=value");
  if (ws[0].find('=') == std::string::npos) {
    if (!allow_legacy) throw Error("invalid -c '" + line + "': '" + ws[0] + "' is not key=value");
    size_t sp = args.find_first_of(" \t");
    if (sp == std::string::npos) throw Error("invalid -c '" + line + "': '" + ws[0] + "' has no value");
    out.emplace_back(ws[0], trim(args.substr(sp)));
    return out;
  }
  for (auto& w : ws) {
    size_t eq = w.find('=');
    if (eq == std::string::npos || eq == 0) throw Error("invalid -c '" + line + "': '" + w + "' is not key=value");
    out.emplace_back(w.substr(0, eq), w.substr(eq + 1));
  }
  return out;
}

}  // namespace

void apply_config_change(json& config, const std::string& line_in) {
  const std::string line = trim(line_in);
  size_t sp = line.find_first_of(" \t");
  std::string op = line.substr(0, sp);
  std::transform(op.begin(), op.end(), op.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  const std::string args = sp == std::string::npos ? "" : trim(line.substr(sp));
  if (op.empty()) throw Error("invalid -c '" + line_in + "': empty instruction");
  if (args.empty()) throw Error("invalid -c '" + line + "': " + op + " needs an argument");
  json c = config.is_object() ? config : json::object();
  if (op == "CMD") {
    c["Cmd"] = command(args, line);
  } else if (op == "ENTRYPOINT") {
    c["Entrypoint"] = command(args, line);
  } else if (op == "ENV") {
    json env = c.contains("Env") && c["Env"].is_array() ? c["Env"] : json::array();
    for (auto& [k, v] : pairs(args, line, true)) {
      bool replaced = false;
      for (auto& e : env)
        if (e.is_string() && e.get<std::string>().rfind(k + "=", 0) == 0) {
          e = k + "=" + v;
          replaced = true;
        }
      if (!replaced) env.push_back(k + "=" + v);
    }
    c["Env"] = env;
  } else if (op == "WORKDIR") {
    std::string dir = args;
    if (dir.front() != '/') {
      std::string cur = c.value("WorkingDir", std::string());
      if (cur.empty() || cur.back() != '/') cur.push_back('/');
      cur += dir;
      dir = cur;
    }
    c["WorkingDir"] = dir;
  } else if (op == "USER") {
    auto ws = words(args, line);
    if (ws.size() != 1) throw Error("invalid -c '" + line + "': USER takes one user[:group]");
    c["User"] = ws[0];
  } else if (op == "LABEL") {
    json labels = c.contains("Labels") && c["Labels"].is_object() ? c["Labels"] : json::object();
    for (auto& [k, v] : pairs(args, line, true)) labels[k] = v;
    c["Labels"] = labels;
  } else if (op == "EXPOSE") {
    json ports = c.contains("ExposedPorts") && c["ExposedPorts"].is_object() ? c["ExposedPorts"] : json::object();
    for (auto& w : words(args, line)) {
      std::string port = w, proto = "tcp";
      if (size_t sl = w.find('/'); sl != std::string::npos) {
        port = w.substr(0, sl);
        proto = w.substr(sl + 1);
        std::transform(proto.begin(), proto.end(), proto.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
      }
      bool digits = !port.empty() && port.size() <= 5 &&
                    std::all_of(port.begin(), port.end(), [](unsigned char ch) { return std::isdigit(ch); });
      if (!digits || std::stoul(port) == 0 || std::stoul(port) > 65535 ||
          (proto != "tcp" && proto != "udp" && proto != "sctp"))
        throw Error("invalid -c '" + line + "': '" + w + "' is not PORT[/tcp|/udp|/sctp]");
      std::string key = std::to_string(std::stoul(port));
      key += '/';
      key += proto;
      ports[key] = json::object();
    }
    c["ExposedPorts"] = ports;
  } else if (op == "VOLUME") {
    json vols = c.contains("Volumes") && c["Volumes"].is_object() ? c["Volumes"] : json::object();
    json list = command(args, line);
    std::vector<std::string> paths;
    if (list.size() == 3 && list[0] == "/bin/sh") paths = words(args, line);
    else
      for (auto& p : list) paths.push_back(p.get<std::string>());
    for (auto& p : paths) {
      if (p.empty() || p.front() != '/') throw Error("invalid -c '" + line + "': volume '" + p + "' is not an absolute path");
      vols[p] = json::object();
    }
    c["Volumes"] = vols;
  } else if (op == "STOPSIGNAL") {
    c["StopSignal"] = args;
  } else {
    throw Error("invalid -c '" + line + "': unknown instruction " + op +
                " (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)");
  }
  config = std::move(c);
}

}  // namespace hvrun::image
