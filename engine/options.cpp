#include "engine/options.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <tuple>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "container/mounts.hpp"
#include "volume/store.hpp"
#include "container/process.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::engine {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses a whole string as a finite double; nullopt on any junk.
std::optional<double> parse_double(const std::string& s) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string key_of(const std::string& kv) { return kv.substr(0, kv.find('=')); }

}  // namespace

int64_t parse_memory(const std::string& value) {
  auto bad = [&](const std::string& why) {
    return Error("invalid value \"" + value + "\" for --memory: " + why);
  };
  std::string v = lower(value);
  if (v.empty()) throw bad("empty");
  double mult = 1;
  size_t n = v.size();
  if (n >= 2 && v[n - 1] == 'b' && std::string("kmg").find(v[n - 2]) != std::string::npos) v.pop_back();
  switch (v.back()) {
    case 'b': mult = 1; v.pop_back(); break;
    case 'k': mult = 1024.0; v.pop_back(); break;
    case 'm': mult = 1024.0 * 1024; v.pop_back(); break;
    case 'g': mult = 1024.0 * 1024 * 1024; v.pop_back(); break;
    default: break;
  }
  auto num = parse_double(v);
  if (!num) throw bad("expected a size like 64m or 1g");
  double bytes = *num * mult;
  if (bytes < 1) throw bad("must be positive");
  // Docker's floor: below it a container dies at once as OOM, with no word.
  if (bytes < kMinMemoryBytes) throw bad("the minimum memory limit allowed is 6MB");
  if (bytes > 9.0e18) throw bad("too large");
  return static_cast<int64_t>(bytes);
}

double parse_cpus(const std::string& value, unsigned host_cpus) {
  auto num = parse_double(value);
  if (!num) throw Error("invalid value \"" + value + "\" for --cpus: expected a number like 0.5 or 2");
  if (*num < 0.01 || *num > host_cpus) {
    char range[96];
    std::snprintf(range, sizeof range, "the range of CPUs is from 0.01 to %u.0000 (the CPUs available)", host_cpus);
    throw Error("invalid value \"" + value + "\" for --cpus: " + range);
  }
  return *num;
}

unsigned available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return static_cast<unsigned>(CPU_COUNT(&set));
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

int64_t parse_pids_limit(const std::string& value) {
  char* end = nullptr;
  errno = 0;
  long long v = value.empty() ? 0 : std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || errno != 0 || end != value.c_str() + value.size())
    throw Error("invalid value \"" + value + "\" for --pids-limit: expected an integer");
  if (v < -1) throw Error("invalid value \"" + value + "\" for --pids-limit: must be positive, or -1 for unlimited");
  return v <= 0 ? 0 : v;
}

EnvLookup process_env() {
  return [](const std::string& k) -> std::optional<std::string> {
    const char* v = std::getenv(k.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

std::optional<std::string> expand_env(const std::string& arg, const EnvLookup& lookup) {
  size_t eq = arg.find('=');
  std::string key = arg.substr(0, eq);
  if (key.empty()) throw Error("invalid environment variable \"" + arg + "\": empty name");
  if (key.find_first_of(" \t\n") != std::string::npos)
    throw Error("invalid environment variable \"" + arg + "\": name contains whitespace");
  if (eq != std::string::npos) return arg;
  auto v = lookup(key);
  if (!v) return std::nullopt;
  return key + "=" + *v;
}

std::vector<std::string> read_env_file(const std::string& path, const EnvLookup& lookup) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error& e) {
    throw Error(std::string("--env-file: ") + e.what());
  }
  std::vector<std::string> out;
  size_t pos = 0, lineno = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t b = line.find_first_not_of(" \t");
    if (b != std::string::npos && line[b] != '#') {
      line = line.substr(b);
      try {
        if (auto kv = expand_env(line, lookup)) out.push_back(*kv);
      } catch (const Error& e) {
        throw Error("--env-file " + path + " line " + std::to_string(lineno) + ": " + e.what());
      }
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::map<std::string, std::string> parse_labels(const std::vector<std::string>& values) {
  std::map<std::string, std::string> out;
  for (const auto& kv : values) {
    const size_t eq = kv.find('=');
    if (eq == 0 || kv.empty()) throw Error("invalid label \"" + kv + "\": expected KEY=VALUE");
    out[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  return out;
}

container::BindMount parse_volume(const std::string& value) {
  auto bad = [&](const std::string& why) { return Error("invalid volume \"" + value + "\": " + why); };
  std::vector<std::string> parts;
  size_t pos = 0;
  for (;;) {
    size_t c = value.find(':', pos);
    parts.push_back(value.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  container::BindMount m;
  if (parts.size() == 1 && !value.empty() && value[0] == '/') {
    // Docker's `-v /data`: an anonymous volume at /data.
    if (value == "/") throw bad("cannot mount over the container's /");
    m.target = value;
    return m;
  }
  if (parts.size() < 2 || parts.size() > 3) throw bad("expected HOST:CONTAINER[:ro|rw] or an absolute CONTAINER path");
  m.source = parts[0];
  m.target = parts[1];
  if (parts.size() == 3) {
    if (parts[2] == "ro") m.readonly = true;
    else if (parts[2] != "rw") throw bad("unknown mode \"" + parts[2] + "\" (want ro or rw)");
  }
  const bool named = !m.source.empty() && m.source[0] != '/';
  if (named && !volume::valid_volume_name(m.source))
    throw bad("\"" + m.source + "\" is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)");
  if (m.source.empty()) throw bad("host path must be absolute");
  if (m.target.empty() || m.target[0] != '/') throw bad("container path must be absolute");
  if (m.target == "/") throw bad("cannot mount over the container's /");
  if (!named && !path_exists(m.source)) throw bad("host path " + m.source + " does not exist");
  return m;
}

void apply_mount(const std::string& value, container::RunSpec& spec) {
  auto bad = [&](const std::string& why) { return Error("invalid --mount \"" + value + "\": " + why); };
  std::string type = "volume", source, target, tmpfs_size, tmpfs_mode;
  bool readonly = false;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string::npos) comma = value.size();
    const std::string kv = value.substr(pos, comma - pos);
    pos = comma + 1;
    if (kv.empty()) throw bad("an empty field");
    const size_t eq = kv.find('=');
    const std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (eq == std::string::npos && k != "readonly" && k != "ro") throw bad("field \"" + k + "\" needs a value (KEY=VALUE)");
    if (k == "type") type = v;
    else if (k == "source" || k == "src") source = v;
    else if (k == "target" || k == "destination" || k == "dst") target = v;
    else if (k == "readonly" || k == "ro") {
      if (eq == std::string::npos || v == "true" || v == "1") readonly = true;
      else if (v == "false" || v == "0") readonly = false;
      else throw bad("readonly=" + v + ": want true or false");
    } else if (k == "tmpfs-size") tmpfs_size = v;
    else if (k == "tmpfs-mode") tmpfs_mode = v;
    else if (k == "bind-propagation" || k == "consistency") {
      if (k == "bind-propagation" && v != "rprivate" && v != "private")
        throw bad("bind-propagation=" + v + " is not supported (mounts are private)");
    } else {
      throw bad("unknown field \"" + k + "\"");
    }
    if (comma == value.size()) break;
  }
  if (target.empty()) throw bad("target= is required");
  if (type == "bind" || type == "volume") {
    if (type == "bind" && (source.empty() || source[0] != '/')) throw bad("a bind needs an absolute source=");
    if (type == "volume" && !source.empty() && source[0] == '/') throw bad("a volume's source= is a volume name, not a path");
    if (!tmpfs_size.empty() || !tmpfs_mode.empty()) throw bad("tmpfs-size and tmpfs-mode are for type=tmpfs");
    if (target[0] != '/') throw bad("target= must be an absolute container path");
    if (source.empty()) {  // type=volume without source=: an anonymous volume
      container::BindMount m = parse_volume(target);
      m.readonly = readonly;
      spec.mounts.push_back(m);
    } else {
      spec.mounts.push_back(parse_volume(source + ":" + target + (readonly ? ":ro" : "")));
    }
  } else if (type == "tmpfs") {
    if (!source.empty()) throw bad("a tmpfs has no source=");
    std::string opts = readonly ? "ro" : "rw";
    if (!tmpfs_size.empty()) {
      // Docker's tmpfs-size is bytes (or 64m); tmpfs's size= takes both.
      opts += ",size=" + tmpfs_size;
    }
    if (!tmpfs_mode.empty()) opts += ",mode=" + tmpfs_mode;
    spec.tmpfs.push_back(parse_tmpfs(target + ":" + opts));
  } else {
    throw bad("type=" + type + " is not supported (bind, volume or tmpfs)");
  }
}

void apply_security_opt(const std::string& value, container::RunSpec& spec) {
  const std::string nnp = "no-new-privileges";
  if (value.rfind(nnp, 0) == 0) {
    std::string rest = value.substr(nnp.size());
    if (rest.empty() || rest == "=true" || rest == ":true") spec.no_new_privileges = true;
    else if (rest == "=false" || rest == ":false") spec.no_new_privileges = false;
    else throw Error("invalid --security-opt \"" + value + "\": want no-new-privileges, no-new-privileges=true or no-new-privileges=false");
    return;
  }
  const std::string p = "seccomp=";
  if (value.rfind(p, 0) != 0 && value.rfind("seccomp:", 0) != 0)
    throw Error("invalid --security-opt \"" + value + "\": supported: seccomp=unconfined|strict|FILE, no-new-privileges[=true|false]");
  std::string arg = value.substr(p.size());
  if (arg == "unconfined" || arg == "strict") {
    spec.seccomp = container::Seccomp::from_string(arg);
    return;
  }
  if (arg.empty()) throw Error("invalid --security-opt \"" + value + "\": missing profile");
  std::string content;
  try {
    content = read_file(arg);
  } catch (const Error& e) {
    throw Error(std::string("--security-opt seccomp: ") + e.what());
  }
  auto j = nlohmann::json::parse(content, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error("--security-opt seccomp: " + arg + " is not a JSON seccomp profile");
  spec.seccomp = {container::SeccompMode::Custom, content};
}

void validate_hostname(const std::string& h) {
  if (h.empty()) return;
  auto bad = [&](const std::string& why) {
    return Error("invalid hostname \"" + h + "\": " + why);
  };
  if (h.size() > 253) throw bad("longer than 253 characters");
  if (h.size() > 64) throw bad("longer than 64 characters (the kernel's limit for a hostname)");
  size_t start = 0;
  for (;;) {
    size_t dot = h.find('.', start);
    std::string label = h.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty()) throw bad("empty label (a leading, trailing or doubled '.')");
    if (label.size() > 63) throw bad("label \"" + label + "\" is longer than 63 characters");
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
        throw bad(std::string("'") + c + "' is not allowed (RFC 1123: letters, digits, '-' and '.')");
    if (label.front() == '-' || label.back() == '-')
      throw bad("label \"" + label + "\" starts or ends with '-'");
    if (dot == std::string::npos) return;
    start = dot + 1;
  }
}

std::string parse_net(const std::string& value) {
  if (value == "none" || value == "host" || value == "bridge") return value;
  bool ok = !value.empty() && value.size() <= 64 && std::isalnum(static_cast<unsigned char>(value[0]));
  for (char c : value) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  if (!ok) throw Error("invalid value \"" + value + "\" for --net: want none, host, bridge or a network name");
  return value;
}

container::TmpfsMount parse_tmpfs(const std::string& value) {
  container::TmpfsMount t;
  size_t colon = value.find(':');
  t.target = value.substr(0, colon);
  auto bad = [&](const std::string& why) -> void { throw Error("invalid --tmpfs \"" + value + "\": " + why); };
  if (t.target.empty() || t.target[0] != '/') bad("the path must be absolute");
  if (t.target == "/") bad("not on /");
  t.noexec = true;  // Docker's defaults
  if (colon != std::string::npos) {
    std::string opts = value.substr(colon + 1);
    size_t start = 0;
    for (;;) {
      size_t comma = opts.find(',', start);
      std::string o = opts.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!container::apply_tmpfs_option(t, o))
        bad("unknown option \"" + o + "\" (rw, ro, size=, mode=, exec, noexec, suid, nosuid, dev, nodev)");
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  try {
    container::check_tmpfs_options(t);
  } catch (const Error& e) {
    bad(e.what());
  }
  return t;
}

container::Rlimit parse_ulimit(const std::string& value) {
  auto bad = [&](const std::string& why) -> void { throw Error("invalid --ulimit \"" + value + "\": " + why); };
  size_t eq = value.find('=');
  if (eq == std::string::npos || eq == 0) bad("want NAME=SOFT[:HARD], e.g. nofile=1024:2048");
  std::string name = value.substr(0, eq);
  container::Rlimit l;
  l.type = "RLIMIT_";
  for (char c : name) l.type += char(std::toupper(static_cast<unsigned char>(c)));
  if (container::rlimit_resource(l.type) < 0) bad("\"" + name + "\" is not a limit (nofile, nproc, core, memlock, stack, ...)");
  auto number = [&](const std::string& n) -> uint64_t {
    if (n == "-1" || n == "unlimited") return RLIM_INFINITY;
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 19)
      bad("\"" + n + "\" is not a number");
    return std::stoull(n);
  };
  std::string rest = value.substr(eq + 1);
  size_t colon = rest.find(':');
  l.soft = number(rest.substr(0, colon));
  l.hard = colon == std::string::npos ? l.soft : number(rest.substr(colon + 1));
  if (l.soft > l.hard) bad("the soft limit is above the hard one");
  return l;
}

namespace {
bool ip_literal(const std::string& s) {
  // inet_pton reads a C string: whatever follows a NUL would pass unread.
  if (s.find('\0') != std::string::npos) return false;
  unsigned char buf[sizeof(struct in6_addr)];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}
}  // namespace

std::string parse_add_host(const std::string& value) {
  // NAME:IP splits at the first ':' (an IPv6 address keeps its own); NAME=IP
  // at the first '='.
  const size_t eq = value.find('=');
  const size_t colon = value.find(':');
  const size_t at = eq != std::string::npos && (colon == std::string::npos || eq < colon) ? eq : colon;
  auto bad = [&](const std::string& why) { return Error("invalid --add-host \"" + value + "\": " + why); };
  if (at == std::string::npos) throw bad("expected NAME:IP");
  std::string name = value.substr(0, at), ip = value.substr(at + 1);
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  if (name.empty() || name.size() > 253 || name.find_first_of(" \t\n\r#") != std::string::npos ||
      name.find('\0') != std::string::npos)
    throw bad("a host name of 1 to 253 characters without spaces or '#' is needed");
  if (ip != kHostGateway && !ip_literal(ip)) throw bad("\"" + ip + "\" is not an IP address (nor host-gateway)");
  return ip + "\t" + name;
}

std::string parse_dns_server(const std::string& value) {
  if (!ip_literal(value)) throw Error("invalid --dns \"" + value + "\": not an IP address");
  return value;
}

std::string parse_dns_word(const std::string& flag, const std::string& value) {
  if (value.empty() || value.size() > 255 || value.find_first_of(" \t\n\r#;") != std::string::npos ||
      value.find('\0') != std::string::npos)
    throw Error("invalid " + flag + " \"" + value + "\": one word of 1 to 255 characters is needed");
  return value;
}

container::RunSpec build_spec(const RunOptions& o, const image::ImageConfig& img, const EnvLookup& lookup) {
  container::RunSpec s;
  s.args = o.entrypoint ? *o.entrypoint : img.entrypoint;
  const auto& cmd = o.command.empty() && !o.entrypoint ? img.cmd : o.command;
  s.args.insert(s.args.end(), cmd.begin(), cmd.end());
  if (s.args.empty()) throw Error("no command specified (the image has no Entrypoint or Cmd)");

  std::vector<std::string> user_env;
  for (const auto& f : o.env_files) {
    auto v = read_env_file(f, lookup);
    user_env.insert(user_env.end(), v.begin(), v.end());
  }
  for (const auto& e : o.env)
    if (auto kv = expand_env(e, lookup)) user_env.push_back(*kv);
  std::vector<std::string> base = img.env;
  bool has_path = false;
  for (const auto& e : base) has_path |= key_of(e) == "PATH";
  if (!has_path) base.insert(base.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  s.env = merge_env(base, user_env);
  // As Docker: -t sets TERM=xterm unless the image or -e says otherwise.
  if (o.tty && std::none_of(s.env.begin(), s.env.end(), [](const std::string& e) { return key_of(e) == "TERM"; }))
    s.env.push_back("TERM=xterm");

  s.cwd = o.workdir ? *o.workdir : (img.working_dir.empty() ? "/" : img.working_dir);
  if (s.cwd.empty() || s.cwd[0] != '/') throw Error("invalid working directory \"" + s.cwd + "\": must be absolute");
  s.user = o.user ? *o.user : img.user;
  validate_hostname(o.hostname);
  s.hostname = o.hostname;
  for (const auto& v : o.volumes) s.mounts.push_back(parse_volume(v));
  for (const auto& m : o.mounts) apply_mount(m, s);
  for (const auto& t : o.tmpfs) s.tmpfs.push_back(parse_tmpfs(t));
  for (const auto& u : o.ulimits) {
    container::Rlimit l = parse_ulimit(u);
    std::erase_if(s.rlimits, [&](const container::Rlimit& r) { return r.type == l.type; });  // the last one wins
    s.rlimits.push_back(l);
  }
  s.readonly_rootfs = o.read_only;
  s.tty = o.tty;
  // --rm discards the upper layer anyway: skip syncing it at unmount.
  s.volatile_rootfs = o.auto_remove;
  s.interactive = o.interactive;
  if (!o.memory.empty()) s.memory_bytes = parse_memory(o.memory);
  if (!o.cpus.empty()) s.cpus = parse_cpus(o.cpus, available_cpus());
  if (!o.pids_limit.empty()) s.pids_limit = parse_pids_limit(o.pids_limit);
  s.cap_add = o.cap_add;
  s.cap_drop = o.cap_drop;
  s.privileged = o.privileged;
  if (o.userns == "private") s.userns = true;
  else if (!o.userns.empty() && o.userns != "host")
    throw Error("--userns " + o.userns + ": want host or private");
  if (s.userns && s.privileged)
    throw Error("--privileged needs the host's user namespace: it cannot be combined with --userns private");
  for (const auto& so : o.security_opts) apply_security_opt(so, s);
  // --pid host, --ipc host: the namespace hvrun runs in, joined by path.
  for (auto [flag, value, kind, slot] : {std::tuple{"--pid", &o.pid, "pid", &s.join.pid},
                                         std::tuple{"--ipc", &o.ipc, "ipc", &s.join.ipc}}) {
    if (value->empty() || *value == "private") continue;
    if (*value != "host") throw Error(std::string(flag) + " " + *value + ": want private or host");
    if (s.userns)
      throw Error(std::string(flag) + " host needs the host's user namespace: it cannot be combined with --userns private");
    *slot = std::string("/proc/self/ns/") + kind;
  }
  std::string net = o.net;
  if (net.empty()) {
    auto d = lookup("HVRUN_NETWORK");
    net = d && !d->empty() ? *d : "bridge";
    try {
      net = parse_net(net);
    } catch (const Error&) {
      throw Error("invalid HVRUN_NETWORK=\"" + net + "\" (the default for --net): want none, host, bridge or a network name");
    }
  } else {
    net = parse_net(net);
  }
  if (net == "none" || net == "host") {
    s.net = net == "none" ? container::NetMode::None : container::NetMode::Host;
    if (!o.publish.empty()) throw Error("-p needs a bridge network (--net " + net + " has no address to publish)");
  } else {
    s.net = container::NetMode::Bridge;
    s.netcfg.network = net == "bridge" ? "hvrun" : net;
  }
  for (const auto& h : o.add_hosts) {
    s.extra_hosts.push_back(parse_add_host(h));
    if (s.net != container::NetMode::Bridge && s.extra_hosts.back().rfind(std::string(kHostGateway) + "\t", 0) == 0)
      throw Error("--add-host " + h + ": host-gateway needs a bridge network (--net " + net + " has no gateway)");
  }
  for (const auto& d : o.dns) s.dns.push_back(parse_dns_server(d));
  // Docker's "--dns-search ." : no search domains at all.
  for (const auto& d : o.dns_search)
    if (d != ".") s.dns_search.push_back(parse_dns_word("--dns-search", d));
  for (const auto& d : o.dns_options) s.dns_options.push_back(parse_dns_word("--dns-option", d));
  s.init = o.init;
  return s;
}

}  // namespace hvrun::engine
