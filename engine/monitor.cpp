#include "engine/monitor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>

#include "container/pty.hpp"
#include "engine/backend.hpp"
#include "engine/engine.hpp"
#include "engine/events.hpp"
#include "engine/logs.hpp"
#include "engine/network.hpp"
#include "engine/relay.hpp"
#include "engine/restart_policy.hpp"
#include "engine/snapshots.hpp"
#include "engine/terminal.hpp"
#include "engine/vm_backend.hpp"
#include "engine/vm_files.hpp"
#include "engine/vm_template.hpp"
#include "engine/volumes.hpp"
#include "net/proxy.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace hvrun::engine {

namespace {

// ROOT/containers/ID/attach.sock, bound and listening. Reached through an
// O_PATH fd of the record's directory (/proc/self/fd/N/...), as a store's
// path may be longer than a socket address holds.
UniqueFd listen_attach(const std::string& dir) {
  UniqueFd d(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!d) throw_sys("open", dir);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/attach.sock", d.get());
  ::unlink(sa.sun_path);
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) throw_sys("socket");
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) throw_sys("bind", dir + "/attach.sock");
  if (::listen(s.get(), 4) < 0) throw_sys("listen", dir + "/attach.sock");
  return s;
}

// Records a start failure and, for --rm, removes the record.
void record_failure(const Records& rec, const ContainerConfig& cfg, State& st, int status, const std::string& why) {
  try {
    st.status = "exited";
    st.exit_code = status;
    st.error = why;
    st.finished_at = now_rfc3339_nano();
    if (cfg.auto_remove) {
      rec.save_exit_note(cfg.id, st);
      remove_record_and_volumes(rec, cfg, cfg.name, true);
      return;
    }
    rec.save_state(cfg.id, st);
  } catch (const std::exception&) {
    // the original error matters more
  }
}

// --restart: after the workload ended and its exit was saved, the monitor
// waits the policy's back-off (giving way at once to a stop, kill or rm by
// hand) and starts it again under a new detached monitor, which inherits
// the record's lock from this one (it is never free in between).
void maybe_restart(const Records& rec, const ContainerConfig& cfg, State st, double ran_s) {
  if (!restart_due(cfg, st, rec.stopped_by_user(cfg.id))) return;
  st.restart_delay_ms = restart_delay_ms(st.restart_delay_ms, ran_s);
  st.restarting = true;
  rec.save_state(cfg.id, st);
  HVRUN_INFO("engine", "container ", cfg.id.substr(0, 12), ": restart ", st.restart_count + 1, " (--restart ",
             cfg.restart_policy, ") in ", st.restart_delay_ms, " ms");
  for (int waited = 0; waited < st.restart_delay_ms; waited += 50) {
    ::usleep(50000);
    if (!is_dir(rec.dir(cfg.id))) return;
    if (rec.stopped_by_user(cfg.id)) {
      st.restarting = false;
      rec.save_state(cfg.id, st);
      return;
    }
  }
  ContainerConfig now = rec.load_config(cfg.id);  // as it is now (renamed, say)
  now.detach = true;
  // Still "restarting" until the next monitor says "running": a reader never
  // sees the new count beside the old run's exit as if it were final.
  ++st.restart_count;
  rec.save_state(cfg.id, st);
  try {
    start_detached(rec, now);
  } catch (const std::exception& e) {
    HVRUN_WARN("engine", "container ", cfg.id.substr(0, 12), ": restart by its policy failed: ", e.what());
  }
}

// How a monitor's workload ended, for maybe_restart once the monitor's own
// fds (log, pipes, pty, pidfd, signalfd) are closed: a restarted monitor is
// forked from this process and would inherit whatever is still open.
struct MonitorExit {
  bool saved = false;  // the exit was saved (not a --rm container)
  State st;
  double ran_s = 0;
};

// The monitor: starts the workload, relays and logs its output, waits for it,
// records how it ended. `ready` (detached mode) gets "OK\n" once started.
int monitor(const Records& rec, const ContainerConfig& cfg, bool foreground, UniqueFd* ready, MonitorExit* exit_out) {
  const auto& spec = cfg.spec;
  std::unique_ptr<Backend> backend;
  // network connect waits while this start reads and wires its leases.
  std::optional<FileLock> net_lock;
  if (cfg.mode == Mode::Vm) {
    VmAssets a;
    a.kernel = cfg.vm_kernel;
    a.guest_init = cfg.vm_guest_init;
    a.image_disk = cfg.vm_image_disk;
    a.work_dir = rec.dir(cfg.id);
    a.snapshot_store = snapshots_dir(rec.store_root());
    a.restore_dir = cfg.vm_restore;
    // Started again (hvrun start of a VM that ran before: its last state,
    // not yet replaced, says when it started): it boots on the disk it left,
    // not on a fresh one or its snapshot's.
    // So does one whose disk hvrun cp wrote before its first start.
    if ((!rec.load_state(cfg.id).started_at.empty() || path_exists(a.work_dir + "/" + kVmRwKeep)) &&
        path_exists(a.work_dir + "/" + kVmRwDisk)) {
      a.keep_rw_disk = true;
      a.restore_dir.clear();
    }
    try {
      mkdir_p(a.snapshot_store, 0700);
    } catch (const std::exception& e) {
      HVRUN_WARN("engine", "no snapshots of this VM: ", e.what());
      a.snapshot_store.clear();
    }
    try {
      mkdir_p(vm_templates_dir(rec.store_root()), 0700);
      a.blank_rw_disk = vm_blank_rw_disk(rec.store_root());
    } catch (const std::exception& e) {
      HVRUN_DEBUG("engine", "no blank writable disk to copy: ", e.what());
    }
    // hvrun network connect while it was not running: a card more each
    // (a connect waits for this start: net_lock).
    if (spec.net == container::NetMode::Bridge) {
      net_lock.emplace(network_lock_path(rec.store_root(), cfg.id));
      for (const Endpoint& e : connected_networks(rec.store_root(), cfg.id)) {
        container::NetConfig n;
        n.network = e.network;
        n.ifname = e.ifname;
        n.address = e.address;
        n.prefix = e.prefix;
        n.mac = e.mac;
        n.mtu = spec.netcfg.mtu;
        n.bridge = e.bridge;
        a.more_networks.push_back(std::move(n));
      }
    }
    if (a.restore_dir.empty()) {
      const TemplateChoice t = vm_template_for(rec.store_root(), a, spec);
      a.template_dir = t.dir;
      if (t.dir.empty()) HVRUN_DEBUG("engine", "the VM boots: ", t.why_not);
      else HVRUN_DEBUG("engine", "the VM starts from the template ", t.dir, t.made ? " (made now)" : "");
    }
    backend = make_vm_backend(std::move(a));
    HVRUN_DEBUG("engine", "monitor ", ::getpid(), ": backend vm (kernel ", cfg.vm_kernel, ", image disk ", cfg.vm_image_disk, ")");
  } else {
    std::function<void(pid_t)> wire;
    if (spec.net == container::NetMode::Bridge && !spec.netcfg.address.empty()) 
      wire = wire_container_networks(rec.store_root(), cfg.id, spec.netcfg);
    backend = make_backend(cfg.mode, std::move(wire));
    HVRUN_DEBUG("engine", "monitor ", ::getpid(), ": backend ", to_string(cfg.mode), ", ", foreground ? "foreground" : "detached",
                ", tty ", spec.tty, ", interactive ", spec.interactive);
  }
  LogWriter log(rec.log_path(cfg.id));
  State st;
  st.monitor_pid = ::getpid();
  {
    const State before = rec.load_state(cfg.id);  // --restart's count and back-off go on
    st.restart_count = before.restart_count;
    st.restart_delay_ms = before.restart_delay_ms;
  }

  container::Stdio stdio;
  Pipe out, err, in;
  if (!spec.tty) {
    out = Pipe::make();
    err = Pipe::make();
    stdio.out = out.write.get();
    stdio.err = err.write.get();
  }
  if (spec.interactive && !spec.tty) {
    in = Pipe::make();
    stdio.in = in.read.get();
  }
  std::optional<WinSize> ws;
  if (spec.tty && foreground) ws = window_size(0);
  // Signals that arrive while the workload starts wait in the signalfd and are
  // forwarded once it runs (the runtime resets the mask in the workload).
  SignalGate gate;
  // -p: the ports are bound before the workload starts (a taken one fails
  // the run), relayed by a thread of this monitor once it runs.
  std::unique_ptr<net::PortProxy> proxy;
  if (spec.net == container::NetMode::Bridge && !net_lock)
    net_lock.emplace(network_lock_path(rec.store_root(), cfg.id));
  try {
    if (!cfg.publish.empty()) proxy = std::make_unique<net::PortProxy>(parse_ports(cfg.publish), spec.netcfg.address);
    backend->start(spec, stdio, ws);
  } catch (const ExitError& e) {
    record_failure(rec, cfg, st, e.exit_status(), e.what());
    throw;
  } catch (const std::exception& e) {
    record_failure(rec, cfg, st, kHvrunErrorStatus, e.what());
    throw;
  }
  if (proxy) proxy->start();
  out.write.reset();
  err.write.reset();
  in.read.reset();
  if (in.write) set_nonblock(in.write.get());

  st.status = "running";
  st.pid = backend->pid();
  st.pid_starttime = proc_starttime(st.pid).value_or(0);
  st.started_at = now_rfc3339_nano();
  const auto started = std::chrono::steady_clock::now();
  rec.save_state(cfg.id, st);
  net_lock.reset();
  record_event(rec.base(), "start", cfg.id, cfg.name, cfg.image, cfg.owner_uid);
  HVRUN_INFO("engine", "container ", cfg.id.substr(0, 12), " running: pid ", st.pid,
              proxy ? ", ports published" : "");
  // A detached -i container: its stdin (the pty, or the stdin pipe's write
  // end) is handed over ROOT/containers/ID/attach.sock to whoever attaches
  // (hvrun serve's attach and resize). It listens before the start is
  // reported, so that a client's resize right after its start (docker run
  // -it) finds it; connections wait in the backlog until the relay runs.
  UniqueFd attach_listen;
  if (!foreground && spec.interactive && (backend->pty_master() >= 0 || in.write)) {
    try {
      attach_listen = listen_attach(rec.dir(cfg.id));
    } catch (const std::exception& e) {
      HVRUN_WARN("engine", "no attach socket, stdin stays closed: ", e.what());
    }
  }
  if (ready && *ready) {
    write_all(ready->get(), "OK\n", 3);
    ready->reset();
  }

  int pty = backend->pty_master();
  if (pty >= 0) set_nonblock(pty);
  std::unique_ptr<RawMode> raw;
  if (foreground && spec.tty && spec.interactive) raw = std::make_unique<RawMode>(0);
  UniqueFd pidfd = open_pidfd(st.pid);

  Relay r;
  r.out = out.read.get();
  r.err = err.read.get();
  r.pty = pty;
  r.stdin_pipe = in.write ? &in.write : nullptr;
  r.forward_stdin = foreground && spec.interactive;
  r.echo = foreground;
  r.pidfd = pidfd.get();
  r.log = &log;
  r.on_signal = [&](int sig) {
    // ^C or a SIGTERM to `hvrun run` ends it for good, as Docker's proxied
    // kill does: no restart by its policy.
    if (sig == SIGINT || sig == SIGTERM || sig == SIGQUIT || sig == SIGHUP || sig == SIGKILL) {
      try {
        rec.mark_stopped_by_user(cfg.id, true);
      } catch (const std::exception&) {
      }
    }
    try {
      backend->kill(sig);
    } catch (const std::exception&) {
      // it is exiting anyway
    }
  };
  r.on_winch = [&] {
    try {
      if (auto w = window_size(0)) backend->resize(*w);
    } catch (const std::exception&) {
    }
  };
  // Without a tty, stdin goes to the first attach only, and this monitor
  // lets go of its own copy, so that the workload sees EOF when that attach
  // ends (Docker's StdinOnce).
  if (attach_listen) {
    r.attach_listen = attach_listen.get();
    r.on_attach = [&] {
      UniqueFd c(::accept4(attach_listen.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) return;
      try {
        const int give = pty >= 0 ? pty : (in.write ? in.write.get() : -1);
        if (give >= 0) container::send_fd(c.get(), give);
      } catch (const std::exception& e) {
        HVRUN_WARN("engine", "attach: ", e.what());
        return;
      }
      if (pty < 0) {  // StdinOnce: nobody else may have it
        in.write.reset();
        r.attach_listen = -1;
        attach_listen.reset();
      }
    };
  }
  try {
    relay(r, gate.fd());
  } catch (const std::exception& e) {
    // Never leave a workload behind that nobody relays or records.
    std::fprintf(stderr, "hvrun: %s (killing the container)\n", e.what());
    r.on_signal(SIGKILL);
  }
  log.flush();
  raw.reset();

  container::ExitStatus es = backend->wait();
  HVRUN_INFO("engine", "container ", cfg.id.substr(0, 12), " exited: status ", es.exit_code(),
              es.signal ? ", killed by signal " + std::to_string(es.signal) : std::string(), es.oom_killed ? ", OOM killed" : "");
  proxy.reset();
  st.status = "exited";
  st.exit_code = es.exit_code();
  st.oom_killed = es.oom_killed;
  st.error = backend->end_error();
  st.finished_at = now_rfc3339_nano();
  std::string name = cfg.name;  // as it is now: hvrun rename may have changed it
  try {
    name = rec.load_config(cfg.id).name;
  } catch (const Error&) {
  }
  record_event(rec.base(), "die", cfg.id, name, cfg.image, cfg.owner_uid, st.exit_code);
  if (cfg.auto_remove) {
    try {
      rec.save_exit_note(cfg.id, st);  // for a waiter (hvrun wait, the API)
    } catch (const std::exception& e) {
      HVRUN_WARN("engine", "no exit note for ", cfg.id.substr(0, 12), ": ", e.what());
    }
    remove_record_and_volumes(rec, cfg, name, true);  // --rm takes them along (Docker's)
  } else {
    rec.save_state(cfg.id, st);
  }
  HVRUN_DEBUG("engine", "container ", cfg.id.substr(0, 12), cfg.auto_remove ? " removed (--rm)" : " state saved");
  if (exit_out && !cfg.auto_remove)
    *exit_out = {true, st, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()};
  return st.exit_code;
}


}  // namespace

void start_detached(const Records& rec, const ContainerConfig& cfg) {
  Pipe ready = Pipe::make();
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t c1 = ::fork();
  if (c1 < 0) throw_sys("fork");
  if (c1 == 0) {
    ready.read.reset();
    ::setsid();
    pid_t c2 = ::fork();
    if (c2 != 0) ::_exit(c2 < 0 ? 1 : 0);
    HVRUN_DEBUG("engine", "detached monitor started: pid ", ::getpid(), ", its diagnostics go to ", rec.dir(cfg.id), "/monitor.log");
    if (::chdir("/") < 0) ::_exit(1);
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    std::string mlog = rec.dir(cfg.id) + "/monitor.log";
    int errfd = ::open(mlog.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(errfd >= 0 ? errfd : devnull, 2);
    if (errfd > 2) ::close(errfd);
    if (devnull > 2) ::close(devnull);
    std::string msg;
    try {
      MonitorExit ended;
      monitor(rec, cfg, false, &ready.write, &ended);
      ready.write.reset();
      if (ended.saved) maybe_restart(rec, cfg, ended.st, ended.ran_s);
      ::_exit(0);
    } catch (const ExitError& e) {
      msg = std::to_string(e.exit_status()) + " " + e.what();
    } catch (const std::exception& e) {
      msg = std::to_string(kHvrunErrorStatus) + " " + e.what();
    }
    std::fprintf(stderr, "monitor: %s\n", msg.c_str());
    if (ready.write) write_all(ready.write.get(), msg.data(), msg.size());
    ::_exit(1);
  }
  ready.write.reset();
  int st;
  while (::waitpid(c1, &st, 0) < 0 && errno == EINTR) {
  }
  std::string got;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(ready.read.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
    if (got.rfind("OK\n", 0) == 0) return;
  }
  if (got.empty()) throw Error("the container's monitor died before the container started");
  size_t sp = got.find(' ');
  int status = std::atoi(got.substr(0, sp).c_str());
  throw ExitError(sp == std::string::npos ? got : got.substr(sp + 1), status ? status : kHvrunErrorStatus);
}

int run_record(const Records& rec, const ContainerConfig& cfg, bool detach) {
  if (detach) {
    start_detached(rec, cfg);
    std::printf("%s\n", cfg.id.c_str());
    return 0;
  }
  MonitorExit ended;
  const int code = monitor(rec, cfg, true, nullptr, &ended);
  if (ended.saved) maybe_restart(rec, cfg, ended.st, ended.ran_s);
  return code;
}

UniqueFd attach_stdin(const Records& rec, const std::string& id) {
  UniqueFd d(::open(rec.dir(id).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!d) return {};
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/attach.sock", d.get());
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s || ::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return {};
  try {
    return container::recv_fd(s.get());
  } catch (const std::exception&) {
    return {};  // handed to an earlier attach (no tty: the first one only)
  }
}

}  // namespace hvrun::engine
