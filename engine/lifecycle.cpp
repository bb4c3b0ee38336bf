// The lifecycle commands on an existing record: start, restart (by hand and
// by policy at boot), wait, signal, stop, remove.
#include "engine/engine.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>

#include "container/mounts.hpp"
#include "engine/monitor.hpp"
#include "engine/pause.hpp"
#include "engine/restart_policy.hpp"
#include "engine/volumes.hpp"
#include "util/dir_watch.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"
#include "util/signals.hpp"

namespace hvrun::engine {

namespace {

using Clock = std::chrono::steady_clock;

// Whether `pid` runs this same hvrun binary (guards a kill by a stale pid).
// By inode, not by path: hvrun runs from a read-only view of its binary
// (util/self_exe.hpp), whose /proc/PID/exe link reads "/".
bool is_hvrun(pid_t pid) {
  struct stat other{}, self{};
  return ::stat(("/proc/" + std::to_string(pid) + "/exe").c_str(), &other) == 0 && ::stat("/proc/self/exe", &self) == 0 &&
         other.st_dev == self.st_dev && other.st_ino == self.st_ino;
}

bool wait_monitor_gone(const Records& rec, const std::string& id, double seconds) {
  auto until = Clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    if (!rec.monitor_alive(id)) return true;
    if (Clock::now() >= until) return false;
    ::poll(nullptr, 0, 10);
  }
}

}  // namespace

void start_container(const Records& rec, const std::string& id, bool by_policy) {
  ::signal(SIGPIPE, SIG_IGN);
  FileLock lock = FileLock::try_lock(rec.lock_path(id));
  if (!lock.held()) throw Error("container " + id.substr(0, 12) + " is already running");
  State st = rec.refresh(id);
  // Created, or exited: started again on what it left (its upper directory
  // or, for a microVM, its writable disk), its log going on, as Docker's.
  if (!st.start_pending && st.status != "exited") throw Error("container " + id.substr(0, 12) + " is already running");
  ContainerConfig cfg = rec.load_config(id);
  cfg.detach = true;
  st.start_pending = false;
  if (!by_policy) {
    // Started by hand: its restart policy applies again, counted afresh (Docker's).
    rec.mark_stopped_by_user(id, false);
    st.restart_count = 0;
    st.restart_delay_ms = 0;
  }
  rec.save_state(id, st);
  // As run -d: the monitor forked here inherits the lock and holds it for
  // the container's life once this process lets go of its own copy.
  start_detached(rec, cfg);
}

std::vector<std::string> restart_by_policy(const Records& rec) {
  std::vector<std::string> started;
  for (const auto& id : rec.ids()) {
    try {
      const ContainerConfig cfg = rec.load_config(id);
      if (cfg.restart_policy.empty()) continue;
      const State st = rec.refresh(id);
      if (st.status != "exited" || st.start_pending || rec.monitor_alive(id)) continue;
      if (!restart_on_boot(cfg, st, rec.stopped_by_user(id))) continue;
      rec.mark_stopped_by_user(id, false);  // (always: a stop by hand before the reboot ends here, as Docker's)
      start_container(rec, id, true);
      started.push_back(id);
    } catch (const std::exception& e) {
      HVRUN_WARN("engine", "container ", id.substr(0, 12), ": not restarted by its policy: ", e.what());
    }
  }
  return started;
}

void restart_container(const Records& rec, const std::string& id, std::optional<int> timeout_s) {
  if (rec.load_config(id).auto_remove)
    throw Error("container " + id.substr(0, 12) + " is removed when it stops (--rm): it cannot be restarted");
  if (rec.monitor_alive(id)) stop_container(rec, id, timeout_s);
  start_container(rec, id);
}

int wait_container(const Records& rec, const std::string& id, bool until_started_and_exited,
                   const std::function<bool()>& give_up) {
  DirWatch watch(rec.dir(id));  // woken when its state is replaced or the record removed
  for (;;) {
    if (give_up && give_up()) throw Error("gave up waiting for container " + id.substr(0, 12));
    if (!is_dir(rec.dir(id))) {
      if (auto note = rec.load_exit_note(id)) return note->exit_code;
      throw Error("no such container: " + id.substr(0, 12));
    }
    try {
      const State st = rec.refresh(id);
      if (st.status == "exited") {
        // Its monitor saves the state just before it ends: returning before
        // it has gone would let a `rm` right after (docker-py's run with
        // remove=True) find it still running.
        for (int i = 0; i < 200 && rec.monitor_alive(id); ++i) watch.wait(50);
        return st.exit_code;
      }
      if (st.start_pending && !until_started_and_exited) return st.exit_code;
    } catch (const Error&) {
      if (is_dir(rec.dir(id))) throw;  // not a removal under our feet
      continue;
    }
    watch.wait(250);
  }
}

namespace {

void signal_running(const Records& rec, const std::string& id, int sig) {
  State st = rec.refresh(id);
  auto not_running = [&] {
    return Error("container " + id.substr(0, 12) + " is not running");
  };
  if (st.status != "running" || st.pid <= 0) throw not_running();
  UniqueFd pfd = open_pidfd(st.pid);
  // Opened first, checked second: the pidfd pins the process we checked.
  if (!pfd || proc_starttime(st.pid) != st.pid_starttime) throw not_running();
  if (::syscall(SYS_pidfd_send_signal, pfd.get(), sig, nullptr, 0) < 0) {
    if (errno == ESRCH) throw not_running();
    throw_sys("signal container", id.substr(0, 12));
  }
  // A paused container dies only once thawed (a v1 freezer holds even
  // SIGKILL); other signals wait for unpause, as Docker's do.
  if (sig == SIGKILL) thaw_if_paused(rec.load_config(id), st);
}

}  // namespace

void signal_container(const Records& rec, const std::string& id, int sig) {
  // Every caller is a user's stop, kill or rm: the restart policy stands
  // down. Marked before the signal, so that its monitor sees the mark when
  // the workload ends; taken back when there was nothing to signal.
  const bool was_marked = rec.stopped_by_user(id);
  rec.mark_stopped_by_user(id, true);
  try {
    signal_running(rec, id, sig);
  } catch (const Error&) {
    if (!was_marked && !rec.monitor_alive(id)) {
      try {
        rec.mark_stopped_by_user(id, false);
      } catch (const Error&) {
      }
    }
    throw;
  }
}


void stop_container(const Records& rec, const std::string& id, std::optional<int> timeout_s) {
  const ContainerConfig cfg = rec.load_config(id);
  int sig = SIGTERM;
  if (!cfg.stop_signal.empty()) {
    try {
      sig = parse_signal(cfg.stop_signal);
    } catch (const Error&) {
      // checked when it was made; a record edited by hand stops as Docker's default
    }
  }
  const int wait_s = timeout_s ? *timeout_s : cfg.stop_timeout >= 0 ? cfg.stop_timeout : kDefaultStopTimeout;
  try {
    signal_container(rec, id, sig);
  } catch (const Error&) {
    if (!rec.monitor_alive(id)) return;  // not running: nothing to stop
  }
  if (wait_monitor_gone(rec, id, wait_s)) return;
  try {
    signal_container(rec, id, SIGKILL);
  } catch (const Error&) {
  }
  container::cleanup(id, cfg.spec.cgroup_parent);
  if (!wait_monitor_gone(rec, id, 10)) throw Error("container " + id.substr(0, 12) + " did not stop");
}

void remove_container(const Records& rec, const std::string& id, bool force, bool volumes) {
  ContainerConfig cfg = rec.load_config(id);
  FileLock lock = FileLock::try_lock(rec.lock_path(id));
  if (!lock.held() && !force && rec.load_state(id).status == "exited") {
    // Exited, its monitor on its way out (it saved the state last): a
    // moment for it, rather than calling the container running.
    wait_monitor_gone(rec, id, 5);
    lock = FileLock::try_lock(rec.lock_path(id));
  }
  if (!lock.held()) {
    if (!force)
      throw Error("cannot remove running container " + id.substr(0, 12) + ": stop it first or use rm -f");
    try {
      signal_container(rec, id, SIGKILL);
    } catch (const Error&) {
    }
    container::cleanup(id, cfg.spec.cgroup_parent);
    if (!wait_monitor_gone(rec, id, 5)) {
      // A monitor that does not end by itself after its workload died.
      State st = rec.load_state(id);
      if (st.monitor_pid > 0 && is_hvrun(st.monitor_pid)) ::kill(st.monitor_pid, SIGKILL);
      wait_monitor_gone(rec, id, 5);
    }
    try {
      lock = FileLock::try_lock(rec.lock_path(id));
    } catch (const Error&) {
      if (!is_dir(rec.dir(id))) return;  // its --rm monitor removed it (lock file and all)
      throw;
    }
    if (!lock.held()) {
      if (!is_dir(rec.dir(id))) return;  // its --rm monitor removed it
      throw Error("cannot remove container " + id.substr(0, 12) + ": its monitor does not stop");
    }
  }
  if (!is_dir(rec.dir(id))) return;
  remove_record_and_volumes(rec, cfg, cfg.name, volumes || cfg.auto_remove);
}

}  // namespace hvrun::engine
