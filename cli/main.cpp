// hvrun: one image, two isolation models.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "image/store.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/self_exe.hpp"

namespace hvrun::cli {
std::string Context::root() const { return image::Store::default_root(root_flag); }

namespace {

bool is_command(CLI::App& app, const std::string& word) {
  try {
    app.get_subcommand(word);
    return true;
  } catch (const CLI::OptionNotFound&) {
    return false;
  }
}

// "Commands:" and one line per subcommand with its description.
std::string command_list(CLI::App& app) {
  std::string out = "Commands:";
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    char line[256];
    std::snprintf(line, sizeof line, "\n  %-10s %s", sub->get_name().c_str(), sub->get_description().c_str());
    out += line;
  }
  return out;
}

// The diagnostics level: --log-level wins over --debug, which wins over
// $HVRUN_LOG_LEVEL; warn when none is given. What was asked for is exported
// in HVRUN_LOG_LEVEL so that the processes hvrun starts (the monitor,
// hvrun-vmm, guest-init via the kernel command line) log alike.
// Throws on a level it does not know.
void setup_logging(const std::string& level_flag, bool debug) {
  using namespace hvrun;
  if (!level_flag.empty()) {
    auto l = log::parse_level(level_flag);
    if (!l) throw Error(log::bad_level_message(level_flag));
    log::set_level(*l);
  } else if (debug) {
    log::set_level(log::Level::debug);
  } else if (const char* e = std::getenv(log::kEnvVar); e && *e) {
    if (!log::level_from_env()) throw Error(log::bad_level_message(e) + " in $" + log::kEnvVar);
  } else {
    return;
  }
  log::export_level();
}

}  // namespace
}  // namespace hvrun::cli

int main(int argc, char** argv) {
  using namespace hvrun::cli;
  // First of all: no container may reach a writable copy of this binary
  // through /proc/self/exe (CVE-2019-5736, util/self_exe.hpp).
  hvrun::reexec_from_readonly_self(argv);
  // `hvrun --container IMAGE CMD` and `hvrun --vm IMAGE CMD` are shorthand
  // for `hvrun run --container ...`: insert "run" before the first of them
  // when it comes before any subcommand.
  // `hvrun vmm ...` becomes hvrun-vmm (vmm/tool/) right away, in place:
  // the VMM process then carries none of this binary's code or heap.
  std::vector<std::string> args(argv, argv + argc);
  bool debug = false;
  std::string log_level;  // --log-level LEVEL or --log-level=LEVEL
  size_t command_at = 0;  // index of the subcommand word (0: none given)
  bool only_globals = true;  // nothing but global flags (a bare `hvrun`)
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--container" || a == "--vm") {
      args.insert(args.begin() + static_cast<long>(i), "run");
      only_globals = false;
      break;
    }
    if (a == "vmm") {
      try {
        setup_logging(log_level, debug);
        exec_vmm(std::vector<std::string>(args.begin() + static_cast<long>(i) + 1, args.end()), debug);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "hvrun: %s\n", e.what());
        return hvrun::kHvrunErrorStatus;
      }
    }
    if (a == "--root") {
      ++i;
      continue;
    }
    if (a == "--log-level" && i + 1 < args.size()) {
      log_level = args[++i];
      continue;
    }
    if (a.rfind("--log-level=", 0) == 0) {
      log_level = a.substr(std::strlen("--log-level="));
      continue;
    }
    if (a == "--debug") debug = true;
    if (a.rfind("--root=", 0) == 0 || a == "--debug") continue;
    if (a.empty() || a[0] != '-') command_at = i;
    only_globals = false;
    break;  // first non-global word: a subcommand, leave as is
  }

  CLI::App app{"hvrun: run one image as a container or as a microVM", "hvrun"};
  app.require_subcommand(1);
  app.fallthrough();
  Context ctx;
  app.add_option("--root", ctx.root_flag, "Store root (default $HVRUN_ROOT or /var/lib/hvrun)");
  app.add_flag("--debug", ctx.debug, "Debug diagnostics on stderr (--log-level debug)");
  app.add_option("--log-level", ctx.log_level, "Diagnostics on stderr: debug, info, warn (default) or error")
      ->check([](const std::string& v) { return hvrun::log::parse_level(v) ? std::string() : hvrun::log::bad_level_message(v); });
  try {
    setup_logging(log_level, debug);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hvrun: %s\n", e.what());
    return hvrun::kHvrunErrorStatus;
  }
  Action action;
  register_run(app, ctx, action);
  register_create(app, ctx, action);
  register_start(app, ctx, action);
  register_wait(app, ctx, action);
  register_serve(app, ctx, action);
  register_image(app, ctx, action);
  register_images(app, ctx, action);
  register_tag(app, ctx, action);
  register_ps(app, ctx, action);
  register_logs(app, ctx, action);
  register_stop(app, ctx, action);
  register_restart(app, ctx, action);
  register_top(app, ctx, action);
  register_stats(app, ctx, action);
  register_rename(app, ctx, action);
  register_port(app, ctx, action);
  register_kill(app, ctx, action);
  register_pause(app, ctx, action);
  register_rm(app, ctx, action);
  register_inspect(app, ctx, action);
  register_exec(app, ctx, action);
  register_compare(app, ctx, action);
  register_check(app, ctx, action);
  register_version(app, ctx, action);
  register_network(app, ctx, action);
  register_volume(app, ctx, action);
  register_snapshot(app, ctx, action);
  register_vmm(app, ctx, action);
  register_completion(app, ctx, action);
  register_rmi(app, ctx, action);
  register_save(app, ctx, action);
  register_load(app, ctx, action);
  register_system(app, ctx, action);
  register_vm(app, ctx, action);
  register_pull(app, ctx, action);
  register_push(app, ctx, action);
  register_login(app, ctx, action);
  register_registry(app, ctx, action);
  register_search(app, ctx, action);
  register_diff(app, ctx, action);
  register_commit(app, ctx, action);
  register_history(app, ctx, action);
  register_export(app, ctx, action);
  register_cp(app, ctx, action);
  register_build(app, ctx, action);

  // Like docker: a bare `hvrun` and `hvrun help` print the help, an unknown
  // command says so and lists the commands.
  if (only_globals || (command_at && args[command_at] == "help" && command_at + 1 == args.size())) {
    std::printf("%s", app.help().c_str());
    return 0;
  }
  if (command_at && args[command_at] == "help") {
    args.erase(args.begin() + static_cast<long>(command_at));
    args.push_back("--help");  // `hvrun help run` is `hvrun run --help`
  } else if (command_at && !is_command(app, args[command_at])) {
    std::fprintf(stderr, "hvrun: unknown command \"%s\"\n%s\nSee 'hvrun --help'.\n", args[command_at].c_str(),
                 command_list(app).c_str());
    return hvrun::kHvrunErrorStatus;
  }

  std::vector<const char*> cargv;
  for (auto& a : args) cargv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(cargv.size()), cargv.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Like docker: "hvrun: ps: unknown flag: --bogus" + "See 'hvrun ps --help'."
    std::fputs(parse_error_text(app, e).c_str(), stderr);
    return hvrun::kHvrunErrorStatus;
  }
  try {
    // Global flags given after the subcommand (`hvrun ps --debug`).
    if (ctx.log_level != log_level || ctx.debug != debug) setup_logging(ctx.log_level, ctx.debug);
    if (hvrun::log::enabled(hvrun::log::Level::debug)) {
      std::string line;
      for (size_t i = 1; i < args.size(); ++i) line += (i > 1 ? " " : "") + args[i];
      HVRUN_DEBUG("cli", "log level ", hvrun::log::level_name(hvrun::log::level()), ", arguments: ", line);
    }
    return action ? action() : 0;
  } catch (const hvrun::ExitError& e) {
    std::fprintf(stderr, "hvrun: %s\n", e.what());
    return e.exit_status();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hvrun: %s\n", e.what());
    return hvrun::kHvrunErrorStatus;
  }
}
