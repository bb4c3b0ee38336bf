// One file per subcommand; each registers itself on the app here.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/format.hpp"

namespace hvrun::engine {
class Records;
}

namespace hvrun::cli {

struct Context {
  std::string root_flag;  // --root
  bool debug = false;     // --debug
  std::string log_level;  // --log-level (util/log.hpp)
  std::string root() const;  // resolved store root
};

// A subcommand's action sets this; main runs it after parsing and exits with
// its return value.
using Action = std::function<int()>;

void register_run(CLI::App& app, Context& ctx, Action& action);      // run (+ --container/--vm shorthand)
void register_create(CLI::App& app, Context& ctx, Action& action);   // create (run's container, not started)
void register_start(CLI::App& app, Context& ctx, Action& action);    // start
void register_wait(CLI::App& app, Context& ctx, Action& action);     // wait
void register_serve(CLI::App& app, Context& ctx, Action& action);    // serve (the Docker Engine API)
void register_image(CLI::App& app, Context& ctx, Action& action);    // image import|ls|inspect|rm
void register_images(CLI::App& app, Context& ctx, Action& action);   // images
void register_tag(CLI::App& app, Context& ctx, Action& action);      // tag
void register_ps(CLI::App& app, Context& ctx, Action& action);       // ps
void register_logs(CLI::App& app, Context& ctx, Action& action);     // logs
void register_stop(CLI::App& app, Context& ctx, Action& action);     // stop
void register_restart(CLI::App& app, Context& ctx, Action& action);  // restart [-t N] CONTAINER...
void register_top(CLI::App& app, Context& ctx, Action& action);      // top CONTAINER
void register_stats(CLI::App& app, Context& ctx, Action& action);    // stats [--no-stream] [CONTAINER...]
void register_rename(CLI::App& app, Context& ctx, Action& action);   // rename CONTAINER NEW_NAME
void register_port(CLI::App& app, Context& ctx, Action& action);     // port CONTAINER [PRIVATE[/PROTO]]
void register_kill(CLI::App& app, Context& ctx, Action& action);     // kill
void register_pause(CLI::App& app, Context& ctx, Action& action);    // pause, unpause
void register_snapshot(CLI::App& app, Context& ctx, Action& action);  // snapshot create|ls|inspect|rm|restore
void register_rm(CLI::App& app, Context& ctx, Action& action);       // rm
void register_inspect(CLI::App& app, Context& ctx, Action& action);  // inspect
void register_exec(CLI::App& app, Context& ctx, Action& action);     // exec
void register_compare(CLI::App& app, Context& ctx, Action& action);  // compare (container vs vm)
void register_check(CLI::App& app, Context& ctx, Action& action);    // check
void register_version(CLI::App& app, Context& ctx, Action& action);  // version
void register_network(CLI::App& app, Context& ctx, Action& action);  // network create|ls|inspect|rm|prune
void register_volume(CLI::App& app, Context& ctx, Action& action);  // volume create|ls|inspect|rm|prune
void register_vmm(CLI::App& app, Context& ctx, Action& action);      // vmm (low-level: boot a kernel)
void register_completion(CLI::App& app, Context& ctx, Action& action);  // completion bash (from this definition)
void register_rmi(CLI::App& app, Context& ctx, Action& action);      // rmi (= image rm)
void register_save(CLI::App& app, Context& ctx, Action& action);     // save
void register_load(CLI::App& app, Context& ctx, Action& action);     // load
void register_system(CLI::App& app, Context& ctx, Action& action);   // system df
void register_vm(CLI::App& app, Context& ctx, Action& action);       // vm warm|ls|prune (templates)

// The lifecycle commands' loop (stop, kill, rm, pause, unpause): `apply` to
// each named container (resolved by name or id prefix), its name printed
// when it succeeded, one line per error; kHvrunErrorStatus (125) if any failed.
int for_each_container(const Context& ctx, const std::vector<std::string>& names,
                       const std::function<void(const engine::Records&, const std::string& id)>& apply);

// `image rm` and `rmi`: removes each image, a line per error; kHvrunErrorStatus (125) if any failed.
int remove_images(const Context& ctx, const std::vector<std::string>& refs, bool force);
void register_pull(CLI::App& app, Context& ctx, Action& action);      // pull (registry/)
void register_push(CLI::App& app, Context& ctx, Action& action);      // push
void register_login(CLI::App& app, Context& ctx, Action& action);     // login + logout
void register_registry(CLI::App& app, Context& ctx, Action& action);  // registry ls
void register_search(CLI::App& app, Context& ctx, Action& action);    // search
void register_diff(CLI::App& app, Context& ctx, Action& action);     // diff CONTAINER
void register_commit(CLI::App& app, Context& ctx, Action& action);   // commit CONTAINER [REPO[:TAG]]
void register_history(CLI::App& app, Context& ctx, Action& action);  // history IMAGE | --graph
void register_export(CLI::App& app, Context& ctx, Action& action);   // export CONTAINER [-o FILE]
void register_cp(CLI::App& app, Context& ctx, Action& action);       // cp CONTAINER:SRC DEST, cp SRC CONTAINER:DEST
void register_build(CLI::App& app, Context& ctx, Action& action);    // build CONTEXT (builder/)

// --format/-f for the inspect commands: added to sub, parsed (a bad template
// is an Error before any lookup) by the returned function.
std::function<std::optional<Template>()> add_inspect_format(CLI::App* sub);
// RFC 3339 -> Docker's CreatedAt text "2024-05-01 10:00:00 +0000 UTC"
// (unchanged when unparsable).
std::string docker_time(const std::string& rfc3339);
// --format for the list commands (ps, images): into `format`.
void add_list_format(CLI::App* sub, std::string& format);
// Prints inspect results: the Docker-shaped JSON array, or one line per
// object through the --format template.
void print_inspected(const std::vector<nlohmann::json>& objs, const std::optional<Template>& format);
// Rows as columns, each as wide as its widest cell plus three spaces and at
// least `min_width` (Docker's tables: 10; docker top's: 20).
void print_columns(const std::vector<std::vector<std::string>>& rows, size_t min_width = 10);

// A parse error as Docker prints it: "hvrun ps: unknown flag: --bogus" and
// "See 'hvrun ps --help'." (two lines, newline-terminated).
std::string parse_error_text(const CLI::App& app, const CLI::ParseError& e);

// `hvrun [--debug] vmm WORDS...`: execs hvrun-vmm WORDS... in place (same
// PID, process name hvrun-vmm). Returns only by throwing Error.
[[noreturn]] void exec_vmm(const std::vector<std::string>& words, bool debug);

}  // namespace hvrun::cli
