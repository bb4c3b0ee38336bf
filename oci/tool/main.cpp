// hvrun-oci: hvrun's container stack behind runc's command line, for the
// engines that call an OCI runtime (podman --runtime, containerd's runc
// shim with BinaryName, CRI-O, Kubernetes RuntimeClass). The commands are
// oci/runtime.hpp; this file is the command line, the --log file and the
// one-line errors (on stderr and in the log, non-zero exit).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>

#include "oci/config.hpp"
#include "oci/runtime.hpp"
#include "oci/vm.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace {

using namespace hvrun;

struct Log {
  std::string path;
  std::string format = "text";
  // One line to the --log file (json: {"level","msg","time"}, as runc's,
  // which containerd and podman read back on failure).
  void write(const std::string& level, const std::string& msg) const {
    if (path.empty()) return;
    std::ofstream out(path, std::ios::app);
    if (format == "json")
      out << nlohmann::json{{"level", level}, {"msg", msg}, {"time", now_rfc3339_nano()}}.dump() << "\n";
    else
      out << "time=\"" << now_rfc3339_nano() << "\" level=" << level << " msg=" << nlohmann::json(msg).dump() << "\n";
  }
};

std::string proc_cmdline(pid_t pid) {
  std::string s;
  try {
    s = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  } catch (const Error&) {
    return "";
  }
  for (char& c : s)
    if (c == '\0') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hvrun-oci: an OCI runtime (runc's command line) over hvrun's container stack"};
  app.require_subcommand(1);
  app.set_version_flag("-v,--version", "hvrun-oci version 0.1\nspec: 1.0.2");
  std::string root = "/run/hvrun-oci";
  Log log;
  bool debug = false, systemd_cgroup = false, rootless_flag = false;
  std::string criu, rootless;
  app.add_option("--root", root, "where container state is kept (a tmpfs)");
  app.add_option("--log", log.path, "append errors and warnings to this file");
  app.add_option("--log-format", log.format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--debug", debug, "warnings (config.json fields not applied) on stderr too");
  app.add_flag("--systemd-cgroup", systemd_cgroup, "accepted: cgroups are managed as cgroupfs directories");
  app.add_option("--criu", criu, "accepted and ignored (no checkpoint/restore)");
  app.add_option("--rootless", rootless, "accepted: true or false or auto");
  (void)rootless_flag;

  oci::CreateOptions co;
  std::string id;
  bool no_pivot = false, no_new_keyring = false, detach = false, keep = false;
  int preserve_fds = 0;
  auto create_flags = [&](CLI::App* c) {
    c->add_option("-b,--bundle", co.bundle, "the bundle directory (default: the current one)");
    c->add_option("--console-socket", co.console_socket, "AF_UNIX socket that receives the terminal's master fd");
    c->add_option("--pid-file", co.pid_file, "write the container process's pid here");
    c->add_flag("--no-pivot", no_pivot, "accepted: pivot_root is always used");
    c->add_flag("--no-new-keyring", no_new_keyring, "accepted: no session keyring is made");
    c->add_option("--preserve-fds", preserve_fds, "only 0 is supported");
    c->add_option("id", id, "container id")->required();
  };
  CLI::App* create = app.add_subcommand("create", "create a container; its process waits for `start`");
  create_flags(create);
  CLI::App* run = app.add_subcommand("run", "create and start a container, and wait for it");
  create_flags(run);
  run->add_flag("-d,--detach", detach, "return once started");
  run->add_flag("--keep", keep, "keep the container's state after it exits");
  CLI::App* start = app.add_subcommand("start", "run the created container's process");
  start->add_option("id", id, "container id")->required();
  CLI::App* state = app.add_subcommand("state", "print the container's state (runtime-spec JSON)");
  state->add_option("id", id, "container id")->required();
  std::string signal = "SIGTERM";
  bool all = false, force = false;
  CLI::App* kill = app.add_subcommand("kill", "send a signal to the container's process");
  kill->add_flag("-a,--all", all, "to every process in the container");
  kill->add_option("id", id, "container id")->required();
  kill->add_option("signal", signal, "signal name or number (default SIGTERM)");
  std::vector<std::string> ids;
  CLI::App* del = app.add_subcommand("delete", "remove stopped containers (-f: running ones too)");
  del->add_flag("-f,--force", force, "kill a running container first");
  del->add_option("id", ids, "container ids")->required();
  std::string format = "table";
  bool quiet = false;
  CLI::App* list = app.add_subcommand("list", "list containers");
  list->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
  list->add_flag("-q,--quiet", quiet, "ids only");
  CLI::App* ps = app.add_subcommand("ps", "list the processes of a container");
  ps->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
  ps->add_option("id", id, "container id")->required();
  ps->allow_extras();
  CLI::App* pause = app.add_subcommand("pause", "freeze every process of the container");
  pause->add_option("id", id, "container id")->required();
  CLI::App* resume = app.add_subcommand("resume", "thaw a paused container");
  resume->add_option("id", id, "container id")->required();
  std::string spec_bundle;
  bool spec_rootless = false;
  CLI::App* spec = app.add_subcommand("spec", "write a default config.json");
  spec->add_option("-b,--bundle", spec_bundle, "where to write it (default: the current directory)");
  spec->add_flag("--rootless", spec_rootless, "not supported");
  CLI::App* features = app.add_subcommand("features", "print what this runtime supports (JSON)");
  oci::ExecOptions eo;
  std::string process_file, exec_cwd, exec_user;
  std::vector<std::string> exec_env, exec_args;
  bool exec_tty = false;
  CLI::App* exec = app.add_subcommand("exec", "run a process in a running container");
  exec->add_option("-p,--process", process_file, "an OCI process JSON file (instead of the command line)");
  exec->add_flag("-t,--tty", exec_tty, "give it a terminal (its master goes to --console-socket)");
  exec->add_flag("-d,--detach", eo.detach, "return once it runs");
  exec->add_option("--console-socket", eo.console_socket, "AF_UNIX socket that receives the terminal's master fd");
  exec->add_option("--pid-file", eo.pid_file, "write the process's pid here");
  exec->add_option("--cwd", exec_cwd, "working directory");
  exec->add_option("-e,--env", exec_env, "NAME=value (repeatable)");
  exec->add_option("-u,--user", exec_user, "uid[:gid]");
  exec->add_flag("--no-new-keyring", no_new_keyring, "accepted");
  exec->add_option("--preserve-fds", preserve_fds, "only 0 is supported");
  exec->add_option("id", id, "container id")->required();
  exec->add_option("command", exec_args, "the command and its arguments");
  exec->positionals_at_end();
  std::string resources;
  int64_t up_memory = 0, up_quota = 0, up_period = 0, up_pids = 0;
  CLI::App* update = app.add_subcommand("update", "change a container's memory, cpu and pids limits");
  update->add_option("-r,--resources", resources, "a LinuxResources JSON file (- for stdin)");
  update->add_option("--memory", up_memory, "memory limit in bytes");
  update->add_option("--cpu-quota", up_quota, "CFS quota in microseconds");
  update->add_option("--cpu-period", up_period, "CFS period in microseconds");
  update->add_option("--pids-limit", up_pids, "the most processes");
  update->add_option("id", id, "container id")->required();
  for (const char* later : {"checkpoint", "restore", "events"}) {
    CLI::App* s = app.add_subcommand(later, "not supported yet");
    s->allow_extras();
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string msg = std::string("hvrun-oci: ") + e.what();
    // The first word that is neither a global option nor its value, when it
    // names no command: say so (CLI11 would say a command is required).
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("-", 0) == 0) {
        if (a.find('=') == std::string::npos && (a == "--root" || a == "--log" || a == "--log-format" || a == "--criu" ||
                                                 a == "--rootless"))
          ++i;
        continue;
      }
      bool known = false;
      for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) known |= sub->get_name() == a;
      if (!known) msg = "hvrun-oci: unknown command \"" + a + "\" (hvrun-oci --help lists them)";
      break;
    }
    log.write("error", msg);
    std::fprintf(stderr, "%s\n", msg.c_str());
    return 2;
  }

  try {
    oci::StateDir dir(root);
    {
      std::string self = argv[0];
      co.vm_default = self.substr(self.rfind('/') + 1) == oci::kVmToolName;
    }
    co.warn = [&](const std::string& w) {
      log.write("warning", w);
      if (debug) std::fprintf(stderr, "hvrun-oci: warning: %s\n", w.c_str());
    };
    co.error = [&](const std::string& e) { log.write("error", e); };  // in the shim: a copy of `log` after fork
    oci::set_warning_sink([&](const std::string& w) {  // a failed poststart or poststop hook
      log.write("warning", w);
      std::fprintf(stderr, "hvrun-oci: warning: %s\n", w.c_str());
    });
    CLI::App* cmd = app.get_subcommands().front();
    if ((cmd == create || cmd == run) && preserve_fds != 0) throw Error("--preserve-fds is not supported yet");
    if (cmd == create) {
      oci::create(dir, id, co);
    } else if (cmd == run) {
      if (detach) {
        oci::create(dir, id, co);
        oci::start(dir, id);
      } else {
        return oci::run(dir, id, co, keep);
      }
    } else if (cmd == start) {
      oci::start(dir, id);
    } else if (cmd == exec) {
      if (preserve_fds != 0) throw Error("--preserve-fds is not supported yet");
      if (!process_file.empty()) {
        if (!exec_args.empty()) throw Error("exec: give --process or a command, not both");
        eo.process = oci::parse_process(read_file(process_file));
      } else {
        eo.process.args = exec_args;
        eo.process.tty = exec_tty;
      }
      if (!exec_cwd.empty()) eo.process.cwd = exec_cwd;
      for (auto& e : exec_env) eo.process.env.push_back(e);
      if (!exec_user.empty()) eo.process.user = exec_user;
      return oci::exec(dir, id, eo);
    } else if (cmd == state) {
      std::printf("%s\n", oci::state(dir, id).c_str());
    } else if (cmd == kill) {
      oci::kill(dir, id, signal, all);
    } else if (cmd == del) {
      for (auto& one : ids) oci::remove(dir, one, force);
    } else if (cmd == list) {
      std::fputs(oci::list(dir, format == "json", quiet).c_str(), stdout);
    } else if (cmd == ps) {
      std::vector<pid_t> pids = oci::pids(dir, id);
      if (format == "json") {
        std::printf("%s\n", nlohmann::json(pids).dump().c_str());
      } else {
        std::printf("PID\tCMD\n");
        for (pid_t p : pids) std::printf("%d\t%s\n", p, proc_cmdline(p).c_str());
      }
    } else if (cmd == update) {
      std::string text;
      if (resources == "-") {
        std::ostringstream ss;
        ss << std::cin.rdbuf();
        text = ss.str();
      } else if (!resources.empty()) {
        text = read_file(resources);
      }
      oci::update(dir, id, text, up_memory, up_quota, up_period, up_pids);
    } else if (cmd == pause) {
      oci::pause(dir, id);
    } else if (cmd == resume) {
      oci::resume(dir, id);
    } else if (cmd == spec) {
      if (spec_rootless) throw Error("spec --rootless is not supported");
      std::string path = (spec_bundle.empty() ? std::string(".") : spec_bundle) + "/config.json";
      if (path_exists(path)) throw Error("file " + path + " exists: remove it first");
      write_file_atomic(path, oci::default_config(), 0644);
    } else if (cmd == features) {
      std::fputs(oci::features().c_str(), stdout);
    } else {
      throw Error("hvrun-oci " + cmd->get_name() + " is not supported yet");
    }
    return 0;
  } catch (const std::exception& e) {
    log.write("error", e.what());
    std::fprintf(stderr, "hvrun-oci: %s\n", e.what());
    return 1;
  }
}
