// hvrun exec [-i] [-t] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...]
#include "cli/commands.hpp"
#include "engine/engine.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_exec(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("exec", "Run a command in a running container");
  auto o = std::make_shared<engine::ExecOptions>();
  auto env = std::make_shared<std::vector<std::string>>();
  sub->prefix_command();
  sub->fallthrough(false);  // IMAGE and the command are ours, not the parent's
  sub->add_flag("-i,--interactive", o->interactive, "Keep stdin open");
  sub->add_flag("-t,--tty", o->spec.tty, "Allocate a pseudo-terminal");
  sub->add_option("-e,--env", *env, "Set an environment variable")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("-w,--workdir", o->spec.cwd, "Working directory");
  sub->add_option("-u,--user", o->spec.user, "User (name|uid[:group|gid])");
  sub->callback([sub, o, env, &ctx, &action] {
    std::vector<std::string> rest = sub->remaining();
    if (rest.size() < 2) throw CLI::ValidationError("exec", "requires CONTAINER and COMMAND");
    if (rest[0].size() > 1 && rest[0][0] == '-') throw CLI::ValidationError("exec", "unknown flag: " + rest[0]);
    o->spec.args.assign(rest.begin() + 1, rest.end());
    std::string name = rest[0];
    action = [o, env, name, &ctx]() -> int {
      for (const auto& e : *env)
        if (auto kv = engine::expand_env(e, engine::process_env())) o->spec.env.push_back(*kv);
      engine::Records rec(ctx.root());
      return engine::exec_in_container(rec, rec.resolve(name), *o);
    };
  });
}

}  // namespace hvrun::cli
