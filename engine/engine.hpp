// The host-side lifecycle used by the CLI: run (foreground: this process is
// the monitor; -d: a setsid'd, double-forked monitor), signal, stop, remove,
// exec. Each container's monitor holds the record's lock for its whole life.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "container/runtime.hpp"
#include "engine/options.hpp"
#include "engine/records.hpp"
#include "util/fd.hpp"

namespace hvrun::engine {

// Runs IMAGE per `opts`. Foreground: returns the workload's exit status
// (128+N for signal N). Detached: prints the id and returns 0.
int run(const std::string& store_root, const RunOptions& opts);

// hvrun create: makes the container's record (image resolved, spec built,
// network attached) as run does, but starts nothing: it stays "created"
// (State::start_pending) until start_container. Returns its id.
std::string create(const std::string& store_root, const RunOptions& opts);

// hvrun start: starts a created or exited container with a detached
// monitor, as run -d; returns once the workload runs (or throws why it could
// not start). An exited one goes on from the files it left. A running one
// is refused. By hand (not `by_policy`) it also clears a stop by hand and
// the restart count.
void start_container(const Records& rec, const std::string& id, bool by_policy = false);

// What a restart policy keeps across a reboot (hvrun serve calls it as it
// starts): every container whose monitor is gone and whose policy says so
// (restart_policy.hpp: restart_on_boot) is started again. Returns the ids
// started; one that fails to start is logged and skipped.
std::vector<std::string> restart_by_policy(const Records& rec);

// hvrun restart: stop_container (when it runs), then start_container.
void restart_container(const Records& rec, const std::string& id, std::optional<int> timeout_s);

// Waits until the container has exited and returns its exit status (also
// for a --rm container removed meanwhile: its exit note). A created, not yet
// started one is waited for when `until_started_and_exited`, else its status
// (0) is returned at once, as Docker's "not-running" condition.
// `give_up`, when given, is asked between looks; true ends the wait with an
// Error (the API's client went away).
int wait_container(const Records& rec, const std::string& id, bool until_started_and_exited,
                   const std::function<bool()>& give_up = {});

// Runs a container whose record the caller has just made (Records::create,
// its lock held, network attached): its monitor in this process (returns
// the exit status), or detached (prints the id, returns 0). run() ends so;
// so does a snapshot's restore (engine/snapshots.hpp).
int run_record(const Records& rec, const ContainerConfig& cfg, bool detach);

// For a record just made (Records::create) whose spec has --net bridge:
// its lease and network config (engine/network.hpp: attach_network), saved
// in the record. On failure the record is removed and the error rethrown.
void attach_record_network(const std::string& store_root, const Records& rec, ContainerConfig& cfg);

// A running detached -i container's stdin: its pty master (-t), or the
// write end of its stdin pipe, which only the first attach gets (the
// workload sees EOF when that one closes it). Empty when there is none (not
// -i, not started yet, gone, or already handed out).
UniqueFd attach_stdin(const Records& rec, const std::string& id);

// Sends `sig` to a running container's init. Throws when it is not running.
void signal_container(const Records& rec, const std::string& id, int sig);

// The container's stop signal (--stop-signal, else its image's STOPSIGNAL,
// else SIGTERM), then SIGKILL after `timeout_s` (nullopt: its
// --stop-timeout, else 10 s, as Docker); returns once the monitor is gone.
// A container that is not running is left as is.
void stop_container(const Records& rec, const std::string& id, std::optional<int> timeout_s);

// Removes a container; a running one only with `force` (it is killed first).
// With `volumes` (rm -v), or for a --rm container, its anonymous volumes go
// too (engine/volumes.hpp); named ones always stay.
void remove_container(const Records& rec, const std::string& id, bool force, bool volumes = false);

struct ExecOptions {
  container::ExecSpec spec;
  bool interactive = false;
};
// Runs a command in a running container; returns its exit status.
int exec_in_container(const Records& rec, const std::string& id, ExecOptions opts);

}  // namespace hvrun::engine
