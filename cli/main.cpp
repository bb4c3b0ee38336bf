// hvrun: one image, two isolation models.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "image/store.hpp"
#include "util/error.hpp"

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

}  // namespace
}  // namespace hvrun::cli

int main(int argc, char** argv) {
  using namespace hvrun::cli;
  // `hvrun --container IMAGE CMD` and `hvrun --vm IMAGE CMD` are shorthand
  // for `hvrun run --container ...`: insert "run" before the first of them
  // when it comes before any subcommand.
  // `hvrun vmm ...` becomes hvrun-vmm (vmm/tool/) right away, in place:
  // the VMM process then carries none of this binary's code or heap.
  std::vector<std::string> args(argv, argv + argc);
  bool debug = false;
  size_t command_at = 0;  // index of the subcommand word (0: none given)
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--container" || a == "--vm") {
      args.insert(args.begin() + static_cast<long>(i), "run");
      break;
    }
    if (a == "vmm") {
      try {
        exec_vmm(std::vector<std::string>(args.begin() + static_cast<long>(i) + 1, args.end()), debug);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "hvrun: %s\n", e.what());
        return 125;
      }
    }
    if (a == "--root") {
      ++i;
      continue;
    }
    if (a == "--debug") debug = true;
    if (a.rfind("--root=", 0) == 0 || a == "--debug") continue;
    if (a.empty() || a[0] != '-') command_at = i;
    break;  // first non-global word: a subcommand, leave as is
  }

  CLI::App app{"hvrun: run one image as a container or as a microVM", "hvrun"};
  app.require_subcommand(1);
  app.fallthrough();
  Context ctx;
  app.add_option("--root", ctx.root_flag, "Store root (default $HVRUN_ROOT or /var/lib/hvrun)");
  app.add_flag("--debug", ctx.debug, "Verbose diagnostics on stderr");
  Action action;
  register_run(app, ctx, action);
  register_image(app, ctx, action);
  register_images(app, ctx, action);
  register_tag(app, ctx, action);
  register_ps(app, ctx, action);
  register_logs(app, ctx, action);
  register_stop(app, ctx, action);
  register_kill(app, ctx, action);
  register_rm(app, ctx, action);
  register_inspect(app, ctx, action);
  register_exec(app, ctx, action);
  register_compare(app, ctx, action);
  register_check(app, ctx, action);
  register_version(app, ctx, action);
  register_network(app, ctx, action);
  register_vmm(app, ctx, action);
  register_completion(app, ctx, action);

  // Like docker: a bare `hvrun` and `hvrun help` print the help, an unknown
  // command says so and lists the commands.
  const bool bare = command_at == 0 && std::none_of(args.begin() + 1, args.end(), [](const std::string& a) {
                      return a.rfind("--root", 0) != 0 && a != "--debug" && !a.empty() && a[0] == '-';
                    });
  if (bare || (command_at && args[command_at] == "help" && command_at + 1 == args.size())) {
    std::printf("%s", app.help().c_str());
    return 0;
  }
  if (command_at && args[command_at] == "help") {
    args.erase(args.begin() + static_cast<long>(command_at));
    args.push_back("--help");  // `hvrun help run` is `hvrun run --help`
  } else if (command_at && !is_command(app, args[command_at])) {
    std::fprintf(stderr, "hvrun: unknown command \"%s\"\n%s\nSee 'hvrun --help'.\n", args[command_at].c_str(),
                 command_list(app).c_str());
    return 125;
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
    // Like docker: "hvrun ps: unknown flag: --bogus" + "See 'hvrun ps --help'."
    std::fputs(parse_error_text(app, e).c_str(), stderr);
    return 125;
  }
  try {
    return action ? action() : 0;
  } catch (const hvrun::ExitError& e) {
    std::fprintf(stderr, "hvrun: %s\n", e.what());
    return e.exit_status();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hvrun: %s\n", e.what());
    return 125;
  }
}
