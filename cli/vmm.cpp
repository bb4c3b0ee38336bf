// hvrun vmm: the low-level VMM, like a tiny firecracker/lkvm. hvrun execs
// hvrun-vmm in place (same PID) with the words after "vmm": the VMM runs in
// a small process of its own (vmm/tool/), which parses those words itself
// (`hvrun vmm --help`).
#include <unistd.h>

#include "cli/commands.hpp"
#include "engine/vm_backend.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void exec_vmm(const std::vector<std::string>& words, bool debug) {
  std::string path = engine::require_vmm();
  std::vector<std::string> args = {path};
  if (debug) args.push_back("--debug");
  args.insert(args.end(), words.begin(), words.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(path.c_str(), argv.data());
  throw_sys("exec", path);
}

void register_vmm(CLI::App& app, Context& ctx, Action& action) {
  // main() execs hvrun-vmm before parsing when "vmm" is the subcommand; this
  // entry lists it in `hvrun --help` and catches any spelling main missed.
  auto* sub = app.add_subcommand("vmm", "Boot a kernel in a microVM (low level: serial console on stdout; "
                                        "see 'hvrun vmm --help')");
  sub->prefix_command();
  sub->allow_extras();
  sub->set_help_flag();
  sub->callback([sub, &ctx, &action] {
    action = [sub, &ctx]() -> int {
      exec_vmm(sub->remaining(), ctx.debug);
      return kHvrunErrorStatus;
    };
  });
}

}  // namespace hvrun::cli
