#include "builder/build.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "builder/cache.hpp"
#include "builder/context.hpp"
#include "builder/copy.hpp"
#include "builder/dockerfile.hpp"
#include "builder/dockerignore.hpp"
#include "builder/expand.hpp"
#include "builder/rootfs.hpp"
#include "container/env.hpp"
#include "engine/changes.hpp"
#include "engine/engine.hpp"
#include "engine/options.hpp"
#include "engine/records.hpp"
#include "image/commit.hpp"
#include "image/history.hpp"
#include "image/oci.hpp"
#include "image/reference.hpp"
#include "image/store.hpp"
#include "registry/pull.hpp"
#include "util/signals.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"

namespace hvrun::builder {

using json = nlohmann::json;

namespace {

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr const char* kComment = "buildkit.dockerfile.v0";

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string key_of(const std::string& kv) { return kv.substr(0, kv.find('=')); }

// The image config's inner "config" object, made when missing.
json& inner(json& cfg) {
  if (!cfg.contains("config") || !cfg["config"].is_object()) cfg["config"] = json::object();
  return cfg["config"];
}

std::vector<std::string> env_of(const json& cfg) {
  std::vector<std::string> env;
  if (cfg.contains("config") && cfg["config"].is_object() && cfg["config"].contains("Env") &&
      cfg["config"]["Env"].is_array())
    for (const auto& e : cfg["config"]["Env"])
      if (e.is_string()) env.push_back(e.get<std::string>());
  return env;
}

std::string elapsed(std::chrono::steady_clock::time_point since) {
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

struct Stage {
  int index = 0;
  std::string name;  // lower case; "" when unnamed
  const Instruction* from = nullptr;
  std::vector<const Instruction*> steps;
  Vars args;            // the args in scope (declared in this stage)
  bool cmd_set = false;  // a CMD in this stage (an ENTRYPOINT then keeps it)
  // Results.
  bool built = false;
  std::string image_id;  // "" for an empty scratch stage
};

class Builder {
 public:
  Builder(const std::string& root, const BuildOptions& o, FILE* progress)
      : root_(root), o_(o), out_(progress), store_(root), cache_(store_) {}

  std::string run() {
    for (auto& t : o_.tags) tags_.push_back(image::normalize_ref(t));
    if (!is_dir(o_.context)) throw Error("build context " + o_.context + ": not a directory");
    std::string file = o_.file;
    if (file.empty()) {
      file = o_.context + "/Dockerfile";
      if (!path_exists(file) && path_exists(o_.context + "/Containerfile")) file = o_.context + "/Containerfile";
    }
    if (!path_exists(file)) throw Error("no Dockerfile or Containerfile in " + o_.context + " (use -f FILE)");
    fname_ = file.substr(file.rfind('/') + 1);
    df_ = parse_dockerfile(read_file(file), fname_);
    ignore_ = DockerIgnore::load(o_.context);
    ctx_fd_.reset(::open(o_.context.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!ctx_fd_) throw_sys("open build context", o_.context);
    for (const auto& a : o_.build_args) {
      auto eq = a.find('=');
      if (eq == 0 || a.empty()) throw Error("--build-arg " + a + ": expected KEY=VALUE");
      if (eq == std::string::npos) {
        if (const char* v = std::getenv(a.c_str())) build_args_[a] = v;
      } else {
        build_args_[a.substr(0, eq)] = a.substr(eq + 1);
      }
    }
    split_stages();
    Stage* target = &stages_.back();
    if (!o_.target.empty()) {
      target = find_stage(o_.target);
      if (!target) throw Error("--target " + o_.target + ": no stage of that name in " + fname_);
    }
    build_stage(*target);
    std::vector<std::string> unused;
    for (auto& [k, v] : build_args_)
      if (!consumed_.count(k)) unused.push_back(k);
    if (!unused.empty())
      std::fprintf(out_, "[Warning] one or more build args were not consumed: [%s]\n", join_strings(unused).c_str());
    std::string id = target->image_id;
    if (id.empty()) {
      Parent p = parent_of("");
      id = commit(p, p.cfg, "FROM scratch", "");
    }
    int n = ++counter_;
    std::fprintf(out_, "#%d writing image sha256:%s done\n", n, id.c_str());
    for (const auto& t : tags_) {
      store_.tag(id, t);
      std::fprintf(out_, "#%d naming to %s done\n", n, t.c_str());
    }
    return id;
  }

 private:
  [[noreturn]] void fail(const Instruction& in, const std::string& why) const {
    throw Error(fname_ + ":" + std::to_string(in.line) + ": " + why);
  }

  void split_stages() {
    for (const auto& in : df_.instructions) {
      if (in.keyword == "FROM") {
        Stage s;
        s.index = int(stages_.size());
        s.from = &in;
        stages_.push_back(s);
      } else if (stages_.empty()) {
        if (in.keyword != "ARG") fail(in, in.keyword + " before the first FROM (only ARG may come first)");
        global_arg_steps_.push_back(&in);
      } else {
        stages_.back().steps.push_back(&in);
      }
    }
    if (stages_.empty()) throw Error(fname_ + ": no FROM instruction");
    // Global args: defaults, overridden by --build-arg; they feed FROM lines.
    for (const Instruction* in : global_arg_steps_) {
      for (auto& kv : parse_key_values(in->args, global_args_, df_.escape, false, true)) {
        if (build_args_.count(kv.key)) {
          global_args_[kv.key] = build_args_[kv.key];
          consumed_.insert(kv.key);
        } else if (kv.value_set) {
          global_args_[kv.key] = kv.value;
        } else {
          global_args_.erase(kv.key);
        }
        global_declared_.insert(kv.key);
      }
    }
    // Names, from the FROM lines (expanded with the global args).
    for (auto& s : stages_) {
      auto words = expand_words(s.from->args, global_args_, df_.escape);
      if (words.size() == 3 && lower(words[1]) == "as") s.name = lower(words[2]);
    }
  }

  Stage* find_stage(const std::string& name) {
    std::string n = lower(name);
    for (auto& s : stages_)
      if (!s.name.empty() && s.name == n) return &s;
    return nullptr;
  }

  // A --from value or a FROM base: a stage (by name, or index for --from),
  // before `current`.
  Stage* stage_ref(const std::string& ref, int current, bool allow_index) {
    if (Stage* s = find_stage(ref); s && s->index < current) return s;
    if (allow_index && !ref.empty() && ref.find_first_not_of("0123456789") == std::string::npos) {
      int i = std::stoi(ref);
      if (i < current) return &stages_[size_t(i)];
    }
    return nullptr;
  }

  // An image of the store by reference; pulled when missing.
  image::ImageRecord image_ref(const Instruction& in, const std::string& ref) {
    try {
      return store_.resolve(ref);
    } catch (const Error&) {
    }
    std::fprintf(out_, "#%d pulling %s (not in the store)\n", counter_, ref.c_str());
    try {
      registry::PullOptions po;
      po.client.store_root = root_;
      registry::Progress quiet(nullptr);
      auto r = registry::pull(store_, ref, po, quiet);
      return store_.resolve(r.image_id);
    } catch (const std::exception& e) {
      fail(in, "image " + ref + " is not in the store, and pulling it failed: " + e.what());
    }
  }

  void begin(const Stage& st, size_t step, size_t steps, const std::string& text) {
    start_ = std::chrono::steady_clock::now();
    ++counter_;
    std::string label = st.name.empty() ? "" : st.name + " ";
    std::fprintf(out_, "#%d [%s%zu/%zu] %s\n", counter_, label.c_str(), step, steps, text.c_str());
    std::fflush(out_);
  }
  void done(bool cached) {
    if (cached) std::fprintf(out_, "#%d CACHED\n", counter_);
    else std::fprintf(out_, "#%d DONE %s\n", counter_, elapsed(start_).c_str());
    std::fflush(out_);
  }

  // Variables for expanding the stage's instructions: its args, then its
  // config's Env over them (ENV wins over ARG, as in Docker).
  static Vars vars_of(const Stage& st, const json& cfg) {
    Vars v = st.args;
    for (const auto& e : env_of(cfg)) {
      auto eq = e.find('=');
      if (eq != std::string::npos) v[e.substr(0, eq)] = e.substr(eq + 1);
    }
    return v;
  }

  json history_step(const std::string& created_by, bool empty_layer) const {
    json h = {{"created", now_rfc3339_nano()}, {"created_by", created_by}, {"comment", kComment}};
    if (empty_layer) h["empty_layer"] = true;
    return h;
  }

  // The parent image's config and layers ({} for scratch).
  struct Parent {
    std::string id;
    std::vector<std::string> layers;
    json cfg;
  };
  Parent parent_of(const std::string& id) const {
    Parent p;
    p.id = id;
    if (id.empty()) {
      p.cfg = {{"architecture", "amd64"}, {"os", "linux"}, {"config", {{"Env", {kDefaultPath}}}}};
      return p;
    }
    auto rec = store_.resolve(id);
    p.layers = rec.layers;
    p.cfg = image::parse_json(store_.config_blob(rec), "image config of " + id);
    if (!p.cfg.is_object()) throw Error("image config of " + id + " is not a JSON object");
    return p;
  }

  // A new image: the parent's layers (and `upper` as one more when not
  // ""), config `cfg` with one history entry added.
  std::string commit(const Parent& p, json cfg, const std::string& created_by, const std::string& upper) {
    json history = image::aligned_history(cfg, p.layers.size());
    history.push_back(history_step(created_by, upper.empty()));
    cfg["history"] = history;
    cfg["created"] = now_rfc3339_nano();
    image::ImageCommit c;
    c.base_layers = p.layers;
    c.upper = upper;
    c.tar.oci_whiteouts = true;
    c.config = std::move(cfg);
    c.parent = p.id;
    c.what = fname_ + " build step";
    return image::commit_image(store_, std::move(c));
  }

  std::vector<std::string> lowers_of(const std::string& id) const {
    return id.empty() ? std::vector<std::string>{} : store_.layer_dirs(store_.resolve(id));
  }

  static std::string workdir_of(const json& cfg) {
    std::string wd;
    if (cfg.contains("config") && cfg["config"].is_object() && cfg["config"].contains("WorkingDir") &&
        cfg["config"]["WorkingDir"].is_string())
      wd = cfg["config"]["WorkingDir"].get<std::string>();
    return wd.empty() ? "/" : wd;
  }

  void build_stage(Stage& st) {
    if (st.built) return;
    const Instruction& from = *st.from;
    std::string platform;
    for (const auto& f : from.flags) {
      if (f.rfind("--platform=", 0) == 0) platform = expand(f.substr(11), global_args_, df_.escape);
    }
    if (!platform.empty() && platform != "linux/amd64" && platform != "linux/x86_64")
      fail(from, "FROM --platform=" + platform + ": only linux/amd64 is built here");
    auto words = expand_words(from.args, global_args_, df_.escape);
    if (words.empty() || (words.size() != 1 && words.size() != 3)) fail(from, "FROM takes IMAGE [AS NAME]");
    const std::string base = words[0];
    std::string id;
    const size_t steps = st.steps.size() + 1;
    if (lower(base) == "scratch") {
      begin(st, 1, steps, "FROM scratch");
      done(false);
    } else if (Stage* dep = stage_ref(base, st.index, false)) {
      build_stage(*dep);
      begin(st, 1, steps, "FROM " + base);
      id = dep->image_id;
      done(true);
    } else {
      begin(st, 1, steps, "FROM " + base);
      id = image_ref(from, base).id;
      done(false);
    }
    size_t n = 1;
    for (const Instruction* in : st.steps) {
      try {
        id = step(st, *in, id, ++n, steps);
      } catch (const Error& e) {
        // Expansion and the other helpers say what is wrong; the line is ours to add.
        if (std::string(e.what()).rfind(fname_ + ":", 0) == 0) throw;
        fail(*in, e.what());
      }
    }
    st.image_id = id;
    st.built = true;
  }

  // One instruction on image `id`; returns the image after it.
  std::string step(Stage& st, const Instruction& in, const std::string& id, size_t n, size_t steps) {
    const std::string& k = in.keyword;
    if (k == "ARG") {
      // No image: args only change what later steps see (and RUN's keys).
      begin(st, n, steps, in.text);
      for (auto& kv : parse_key_values(in.args, vars_of(st, parent_of(id).cfg), df_.escape, false, true)) {
        if (build_args_.count(kv.key)) {
          st.args[kv.key] = build_args_[kv.key];
          consumed_.insert(kv.key);
        } else if (kv.value_set) {
          st.args[kv.key] = kv.value;
        } else if (global_declared_.count(kv.key) && global_args_.count(kv.key)) {
          st.args[kv.key] = global_args_[kv.key];
        } else {
          st.args.erase(kv.key);
        }
      }
      done(false);
      return id;
    }
    Parent p = parent_of(id);
    Vars vars = vars_of(st, p.cfg);
    if (k == "RUN") return run_step(st, in, p, n, steps);
    if (k == "COPY" || k == "ADD") return copy_step(st, in, p, vars, n, steps);

    // Metadata, and WORKDIR (which also makes its directory).
    json cfg = p.cfg;
    json& c = inner(cfg);
    std::string created_by;
    std::string mkdir;
    if (k == "ENV") {
      auto kvs = parse_key_values(in.args, vars, df_.escape, true, false);
      auto env = env_of(cfg);
      std::vector<std::string> shown;
      for (auto& kv : kvs) {
        env = container::merge_env(env, {kv.key + "=" + kv.value});
        shown.push_back(kv.key + "=" + kv.value);
      }
      c["Env"] = env;
      created_by = "ENV " + join_strings(shown);
    } else if (k == "LABEL") {
      if (!c.contains("Labels") || !c["Labels"].is_object()) c["Labels"] = json::object();
      std::vector<std::string> shown;
      for (auto& kv : parse_key_values(in.args, vars, df_.escape, true, false)) {
        c["Labels"][kv.key] = kv.value;
        shown.push_back(kv.key + "=" + kv.value);
      }
      created_by = "LABEL " + join_strings(shown);
    } else if (k == "WORKDIR") {
      std::string w = expand(in.args, vars, df_.escape);
      std::string cur = c.value("WorkingDir", std::string("/"));
      if (cur.empty()) cur = "/";
      w = clean_path(!w.empty() && w[0] == '/' ? w : cur + "/" + w);
      c["WorkingDir"] = w;
      created_by = "WORKDIR " + w;
      mkdir = w;
    } else if (k == "USER") {
      std::string u = expand(in.args, vars, df_.escape);
      c["User"] = u;
      created_by = "USER " + u;
    } else if (k == "EXPOSE") {
      if (!c.contains("ExposedPorts") || !c["ExposedPorts"].is_object()) c["ExposedPorts"] = json::object();
      std::vector<std::string> shown;
      for (auto w : expand_words(in.args, vars, df_.escape)) {
        if (w.find('/') == std::string::npos) w += "/tcp";
        std::string port = w.substr(0, w.find('/')), proto = lower(w.substr(w.find('/') + 1));
        if (port.empty() || port.find_first_not_of("0123456789-") != std::string::npos ||
            (proto != "tcp" && proto != "udp" && proto != "sctp"))
          fail(in, "EXPOSE " + w + ": expected PORT[/tcp|udp|sctp]");
        c["ExposedPorts"][port + "/" + proto] = json::object();
        shown.push_back(port + "/" + proto);
      }
      created_by = "EXPOSE map[" + join_strings(shown) + "]";
    } else if (k == "VOLUME") {
      if (!c.contains("Volumes") || !c["Volumes"].is_object()) c["Volumes"] = json::object();
      std::vector<std::string> vols = in.json_form ? in.json : expand_words(in.args, vars, df_.escape);
      for (auto& v : vols) {
        if (in.json_form) v = expand(v, vars, df_.escape);
        if (v.empty()) fail(in, "VOLUME with an empty path");
        c["Volumes"][v] = json::object();
      }
      created_by = "VOLUME [" + join_strings(vols) + "]";
    } else if (k == "STOPSIGNAL") {
      std::string s = expand(in.args, vars, df_.escape);
      try {
        parse_signal(s);
      } catch (const Error& e) {
        fail(in, "STOPSIGNAL " + s + ": " + e.what());
      }
      c["StopSignal"] = s;
      created_by = "STOPSIGNAL " + s;
    } else if (k == "CMD" || k == "ENTRYPOINT") {
      std::vector<std::string> v = in.json_form ? in.json : shell_of(c);
      if (!in.json_form) v.push_back(in.args);
      const char* field = k == "CMD" ? "Cmd" : "Entrypoint";
      c[field] = v;
      if (k == "CMD") st.cmd_set = true;
      // As Docker: an ENTRYPOINT drops the Cmd inherited from the base.
      if (k == "ENTRYPOINT" && !st.cmd_set) c["Cmd"] = nullptr;
      created_by = k + " " + json(v).dump();
    } else if (k == "SHELL") {
      if (!in.json_form || in.json.empty()) fail(in, "SHELL takes a JSON array: SHELL [\"/bin/sh\", \"-c\"]");
      c["Shell"] = in.json;
      created_by = "SHELL " + json(in.json).dump();
    } else if (k == "HEALTHCHECK") {
      c["Healthcheck"] = healthcheck(in);
      created_by = "HEALTHCHECK " + in.args;
    } else if (k == "ONBUILD") {
      if (!c.contains("OnBuild") || !c["OnBuild"].is_array()) c["OnBuild"] = json::array();
      c["OnBuild"].push_back(in.args);
      created_by = "ONBUILD " + in.args;
    } else if (k == "MAINTAINER") {
      cfg["author"] = expand(in.args, vars, df_.escape);
      created_by = "MAINTAINER " + cfg["author"].get<std::string>();
    } else {
      fail(in, "unknown instruction " + k);
    }
    begin(st, n, steps, in.text);
    std::string key = cache_key(p.id, {"meta", created_by, cfg.value("author", std::string()),
                                       c.dump()});
    if (auto hit = cached(key)) {
      done(true);
      return *hit;
    }
    std::string out;
    if (!mkdir.empty()) {
      Scratch sc(store_);
      try {
        in_rootfs(sc.path(), lowers_of(p.id), sc.upper(), nullptr, -1,
                  [&](int) { make_dirs(mkdir); });
      } catch (const Error& e) {
        fail(in, "WORKDIR " + mkdir + ": " + e.what());
      }
      bool made = !list_dir(sc.upper()).empty();
      out = commit(p, cfg, created_by, made ? sc.upper() : "");
    } else {
      out = commit(p, cfg, created_by, "");
    }
    cache_.record(key, out);
    done(false);
    return out;
  }

  std::vector<std::string> shell_of(const json& c) const {
    if (c.contains("Shell") && c["Shell"].is_array() && !c["Shell"].empty()) {
      std::vector<std::string> v;
      for (const auto& s : c["Shell"])
        if (s.is_string()) v.push_back(s.get<std::string>());
      if (!v.empty()) return v;
    }
    return {"/bin/sh", "-c"};
  }

  json healthcheck(const Instruction& in) const {
    std::string a = in.args;
    if (lower(a) == "none") return {{"Test", {"NONE"}}};
    json h = json::object();
    auto dur = [&](const std::string& f, const std::string& v) -> int64_t {
      // "30s", "1m", "500ms", "1m30s" -> nanoseconds
      int64_t total = 0;
      size_t i = 0;
      while (i < v.size()) {
        size_t j = i;
        while (j < v.size() && (std::isdigit(static_cast<unsigned char>(v[j])) || v[j] == '.')) ++j;
        if (j == i) fail(in, "HEALTHCHECK " + f + "=" + v + ": expected a duration such as 30s");
        double num = std::stod(v.substr(i, j - i));
        size_t u = j;
        while (u < v.size() && std::isalpha(static_cast<unsigned char>(v[u]))) ++u;
        std::string unit = v.substr(j, u - j);
        double mul = unit == "h" ? 3.6e12 : unit == "m" ? 6e10 : unit == "s" ? 1e9 : unit == "ms" ? 1e6 : unit == "us" ? 1e3 : unit == "ns" ? 1 : -1;
        if (mul < 0) fail(in, "HEALTHCHECK " + f + "=" + v + ": expected a duration such as 30s");
        total += int64_t(num * mul);
        i = u;
      }
      return total;
    };
    for (const auto& f : in.flags) {
      auto eq = f.find('=');
      std::string name = f.substr(0, eq), v = eq == std::string::npos ? "" : f.substr(eq + 1);
      if (name == "--interval") h["Interval"] = dur(name, v);
      else if (name == "--timeout") h["Timeout"] = dur(name, v);
      else if (name == "--start-period") h["StartPeriod"] = dur(name, v);
      else if (name == "--start-interval") h["StartInterval"] = dur(name, v);
      else if (name == "--retries") h["Retries"] = std::stoi(v);
    }
    std::string rest = a;
    if (lower(rest.substr(0, 4)) != "cmd " && lower(rest) != "cmd")
      fail(in, "HEALTHCHECK takes NONE or [OPTIONS] CMD command");
    rest = rest.substr(std::min<size_t>(4, rest.size()));
    json parsed = json::parse(rest, nullptr, false);
    if (parsed.is_array() && !parsed.empty()) {
      json t = json::array({"CMD"});
      for (auto& x : parsed) t.push_back(x);
      h["Test"] = t;
    } else {
      h["Test"] = {"CMD-SHELL", rest};
    }
    return h;
  }

  std::optional<std::string> cached(const std::string& key) {
    if (o_.no_cache) return std::nullopt;
    return cache_.lookup(key);
  }

  std::string run_step(Stage& st, const Instruction& in, const Parent& p, size_t n, size_t steps) {
    for (const auto& f : in.flags) fail(in, "RUN " + f + " is not supported");
    json cfg = p.cfg;
    std::vector<std::string> argv;
    if (in.json_form) {
      argv = in.json;
    } else {
      argv = shell_of(inner(cfg));
      argv.push_back(in.args);
    }
    if (argv.empty()) fail(in, "RUN without a command");
    // The args in scope reach the command as environment (the image's Env
    // wins), and so belong to the key.
    std::vector<std::string> env;
    std::set<std::string> env_keys;
    for (const auto& e : env_of(cfg)) env_keys.insert(key_of(e));
    std::vector<std::string> arg_env;
    for (const auto& [k, v] : st.args)
      if (!env_keys.count(k)) arg_env.push_back(k + "=" + v);
    const std::string created_by = "RUN " + (in.json_form ? json(argv).dump() : join_strings(argv)) + " # buildkit";
    begin(st, n, steps, in.text);
    std::vector<std::string> parts{"run", json(argv).dump(), json(arg_env).dump()};
    std::string key = cache_key(p.id, parts);
    if (auto hit = cached(key)) {
      done(true);
      return *hit;
    }
    if (p.id.empty()) fail(in, "RUN on an empty (scratch) image: there is nothing to run");
    engine::RunOptions ro;
    ro.mode = o_.isolation;
    ro.name = "hvrun-build-" + random_hex(6);
    ro.image = p.id;
    ro.entrypoint = std::vector<std::string>{};
    ro.command = argv;
    ro.env = arg_env;
    ro.net = o_.network;  // "" = run's default
    std::fflush(out_);
    std::fflush(stdout);
    int status;
    try {
      status = engine::run(root_, ro);
    } catch (const std::exception& e) {
      remove_quietly(ro.name);
      fail(in, in.text + ": " + e.what());
    }
    if (status != 0) {
      remove_quietly(ro.name);
      fail(in, "RUN " + in.args + ": exited with status " + std::to_string(status));
    }
    std::string out;
    try {
      engine::CommitOptions co;
      co.pause = false;
      co.created_by = created_by;
      co.message = kComment;
      out = engine::commit_container(root_, ro.name, co);
    } catch (const std::exception& e) {
      remove_quietly(ro.name);
      fail(in, in.text + ": committing its changes failed: " + e.what());
    }
    remove_quietly(ro.name);
    cache_.record(key, out);
    done(false);
    return out;
  }

  void remove_quietly(const std::string& name) {
    try {
      engine::Records rec(root_);
      engine::remove_container(rec, rec.resolve(name), true);
    } catch (const std::exception& e) {
      HVRUN_WARN("build", "removing the step's container ", name, ": ", e.what());
    }
  }

  std::string copy_step(Stage& st, const Instruction& in, const Parent& p, const Vars& vars, size_t n, size_t steps) {
    const bool add = in.keyword == "ADD";
    std::string from, chown, chmod_s;
    std::vector<std::string> shown_flags;
    for (const auto& f : in.flags) {
      auto eq = f.find('=');
      std::string name = f.substr(0, eq), v = eq == std::string::npos ? "" : expand(f.substr(eq + 1), vars, df_.escape);
      if (name == "--from" && !add) from = v;
      else if (name == "--chown") chown = v;
      else if (name == "--chmod") chmod_s = v;
      else if (name == "--link") continue;  // layers here never depend on what is below them anyway
      else if (name == "--checksum") fail(in, "ADD --checksum is for URLs, which hvrun build does not fetch");
      else fail(in, in.keyword + " " + name + " is not supported");
      shown_flags.push_back(name + "=" + v);
    }
    std::vector<std::string> words;
    if (in.json_form) {
      for (const auto& w : in.json) words.push_back(expand(w, vars, df_.escape));
    } else {
      words = expand_words(in.args, vars, df_.escape);
    }
    if (words.size() < 2) fail(in, in.keyword + " takes SOURCE... DEST");
    CopyPlan plan;
    std::string dest = words.back();
    words.pop_back();
    plan.dest_is_dir = !dest.empty() && (dest.back() == '/' || dest == "." || dest.ends_with("/."));
    const std::string wd = workdir_of(p.cfg);
    plan.dest = clean_path(!dest.empty() && dest[0] == '/' ? dest : wd + "/" + dest);
    if (plan.dest == "/") plan.dest_is_dir = true;
    plan.chown = chown;
    if (!chmod_s.empty()) {
      try {
        plan.chmod = parse_chmod(chmod_s);
      } catch (const Error& e) {
        fail(in, e.what());
      }
    }
    plan.extract_archives = add;
    for (const auto& w : words)
      if (add && w.find("://") != std::string::npos)
        fail(in, "ADD " + w + ": URLs are not fetched by hvrun build (download it into the context and COPY it)");

    // The source: the context, or a stage's or an image's file system.
    std::optional<std::vector<std::string>> src_lowers;
    std::string src_what = "the build context", src_id;
    if (!from.empty()) {
      if (Stage* dep = stage_ref(from, st.index, true)) {
        build_stage(*dep);
        src_id = dep->image_id;
        src_what = "stage " + (dep->name.empty() ? std::to_string(dep->index) : dep->name);
      } else {
        src_id = image_ref(in, from).id;
        src_what = "image " + from;
      }
      src_lowers = lowers_of(src_id);
    }
    const std::string created_by = in.keyword + " " + join_strings(shown_flags) + (shown_flags.empty() ? "" : " ") +
                                   join_strings(words) + " " + dest + " # buildkit";
    begin(st, n, steps, in.text);
    std::string content;
    if (from.empty()) {
      SourceRoot root{ctx_fd_.get(), true, &ignore_, src_what};
      try {
        plan.sources = resolve_sources(root, words);
        content = hash_sources(root, plan.sources);
      } catch (const Error& e) {
        fail(in, in.keyword + " failed: " + e.what());
      }
      if (words.size() > 1 || plan.sources.size() > 1) {
        if (dest.empty() || dest.back() != '/')
          fail(in, "when " + in.keyword + " has more than one source file, the destination must be a directory and end with a /");
        plan.dest_is_dir = true;
      }
    } else {
      content = "from " + src_id + " " + json(words).dump();
    }
    std::string key = cache_key(p.id, {lower(in.keyword), json(shown_flags).dump(), json(words).dump(), plan.dest,
                                       plan.dest_is_dir ? "dir" : "path", content});
    if (auto hit = cached(key)) {
      done(true);
      return *hit;
    }
    Scratch sc(store_);
    try {
      std::vector<std::string> lowers = lowers_of(p.id);
      const std::vector<std::string>* sl = src_lowers ? &*src_lowers : nullptr;
      std::vector<std::string> ws = words;
      const std::string what = src_what;
      const bool several = words.size() > 1;
      const std::string dest_given = dest;
      auto resolve = [&](int sfd) {
        if (!sl) return;
        SourceRoot root{sfd, false, nullptr, what};
        plan.sources = resolve_sources(root, ws);
        if ((several || plan.sources.size() > 1) && (dest_given.empty() || dest_given.back() != '/'))
          throw Error("when COPY has more than one source file, the destination must be a directory and end with a /");
        if (plan.sources.size() > 1) plan.dest_is_dir = true;
      };
      in_rootfs(
          sc.path(), lowers, sc.upper(), sl, ctx_fd_.get(),
          [&](int sfd) {
            SourceRoot root{sfd, !sl, sl ? nullptr : &ignore_, what};
            apply_copy(root, plan);
          },
          resolve);
    } catch (const Error& e) {
      fail(in, in.keyword + " failed: " + e.what());
    }
    std::string out = commit(p, p.cfg, created_by, sc.upper());
    cache_.record(key, out);
    done(false);
    return out;
  }

  std::string root_;
  const BuildOptions& o_;
  FILE* out_;
  image::Store store_;
  BuildCache cache_;
  std::vector<std::string> tags_;
  std::string fname_;
  Dockerfile df_;
  DockerIgnore ignore_;
  UniqueFd ctx_fd_;
  std::map<std::string, std::string> build_args_;
  std::set<std::string> consumed_;
  std::vector<const Instruction*> global_arg_steps_;
  Vars global_args_;
  std::set<std::string> global_declared_;
  std::vector<Stage> stages_;
  int counter_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

std::string build(const std::string& store_root, const BuildOptions& opts, FILE* progress) {
  Builder b(store_root, opts, progress);
  return b.run();
}

}  // namespace hvrun::builder
