#include "engine/engine.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>

#include "container/mounts.hpp"
#include "container/pty.hpp"
#include "engine/backend.hpp"
#include "engine/vm_backend.hpp"
#include "engine/vm_control.hpp"
#include "engine/vm_exec.hpp"
#include "image/flatten.hpp"
#include "engine/events.hpp"
#include "engine/logs.hpp"
#include "engine/network.hpp"
#include "engine/pause.hpp"
#include "engine/restart_policy.hpp"
#include "engine/volumes.hpp"
#include "engine/snapshots.hpp"
#include "engine/vm_template.hpp"
#include "net/proxy.hpp"
#include "engine/terminal.hpp"
#include "image/store.hpp"
#include "util/dir_watch.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/signals.hpp"
#include "util/log.hpp"

namespace hvrun::engine {

namespace {

using Clock = std::chrono::steady_clock;

UniqueFd pidfd_open(pid_t pid) {
  return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

void set_nonblock(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

// Moves bytes between the workload and the caller until the workload exits
// (its pidfd turns readable) and its output is drained.
struct Relay {
  int out = -1;  // workload stdout pipe (read end)
  int err = -1;  // workload stderr pipe (read end)
  int pty = -1;  // pty master: output and input
  UniqueFd* stdin_pipe = nullptr;  // workload stdin pipe (write end), closed at our stdin's EOF
  bool forward_stdin = false;
  bool echo = false;  // copy output to our stdout/stderr
  int pidfd = -1;
  LogWriter* log = nullptr;
  std::function<void(int)> on_signal;
  std::function<void()> on_winch;
  int attach_listen = -1;  // a detached -i container's attach socket (accepts call on_attach)
  std::function<void()> on_attach;
};

void relay(Relay& r, int sigfd) {
  bool out_open = r.out >= 0, err_open = r.err >= 0, pty_open = r.pty >= 0;
  bool stdin_open = r.forward_stdin;
  bool exited = r.pidfd < 0;
  Clock::time_point drain_until = Clock::now() + std::chrono::seconds(2);
  std::string inbuf;
  char buf[65536];
  auto sink = [&]() -> int {
    if (r.pty >= 0) return pty_open ? r.pty : -1;
    return r.stdin_pipe && *r.stdin_pipe ? r.stdin_pipe->get() : -1;
  };
  auto output = [&](int fd, Stream s, bool& open) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      if (r.log) {
        r.log->write(s, buf, static_cast<size_t>(n));
        // A terminal's output is not held for its newline: a prompt must
        // reach an attached client (hvrun serve's attach reads the log).
        if (fd == r.pty) r.log->flush();
      }
      if (r.echo && !write_all(s == Stream::Stdout ? 1 : 2, buf, static_cast<size_t>(n)) && errno == EPIPE) {
        // The caller's reader left (`hvrun run ... | head -1`): like a writer
        // in a pipeline, the workload ends instead of running on unseen.
        r.echo = false;
        if (!exited && r.on_signal) r.on_signal(SIGKILL);
      }
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      open = false;  // EOF, or EIO from a pty whose slave side is gone
    }
  };
  for (;;) {
    if (exited && !out_open && !err_open && !pty_open) break;
    if (exited && Clock::now() >= drain_until) break;
    pollfd p[8];
    int n = 0, i_sig, i_pid = -1, i_out = -1, i_err = -1, i_pty = -1, i_in = -1, i_sink = -1, i_attach = -1;
    p[i_sig = n++] = {sigfd, POLLIN, 0};
    if (r.attach_listen >= 0 && !exited) p[i_attach = n++] = {r.attach_listen, POLLIN, 0};
    if (!exited) p[i_pid = n++] = {r.pidfd, POLLIN, 0};
    if (out_open) p[i_out = n++] = {r.out, POLLIN, 0};
    if (err_open) p[i_err = n++] = {r.err, POLLIN, 0};
    if (pty_open) p[i_pty = n++] = {r.pty, POLLIN, 0};
    int sk = sink();
    if (sk < 0) {
      inbuf.clear();
    } else if (!inbuf.empty()) {
      p[i_sink = n++] = {sk, POLLOUT, 0};
    } else if (stdin_open) {
      p[i_in = n++] = {0, POLLIN, 0};
    }
    int timeout = -1;
    if (exited) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(drain_until - Clock::now()).count();
      timeout = static_cast<int>(std::max<long>(0, left));
    }
    int rc = ::poll(p, static_cast<nfds_t>(n), timeout);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw_sys("poll");
    }
    if (p[i_sig].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGWINCH) {
          if (r.on_winch) r.on_winch();
        } else if (!exited && r.on_signal) {
          r.on_signal(sig);
        }
      }
    }
    if (i_pid >= 0 && p[i_pid].revents) {
      exited = true;
      drain_until = Clock::now() + std::chrono::seconds(2);
    }
    if (i_attach >= 0 && (p[i_attach].revents & POLLIN) && r.on_attach) r.on_attach();
    if (i_out >= 0 && p[i_out].revents) output(r.out, Stream::Stdout, out_open);
    if (i_err >= 0 && p[i_err].revents) output(r.err, Stream::Stderr, err_open);
    if (i_pty >= 0 && p[i_pty].revents) output(r.pty, Stream::Stdout, pty_open);
    if (i_in >= 0 && p[i_in].revents) {
      ssize_t k = ::read(0, buf, sizeof buf);
      if (k > 0) {
        inbuf.assign(buf, static_cast<size_t>(k));
      } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
        stdin_open = false;
        if (r.pty < 0 && r.stdin_pipe) r.stdin_pipe->reset();  // the workload sees EOF
      }
    }
    if (i_sink >= 0 && p[i_sink].revents) {
      ssize_t k = ::write(sk, inbuf.data(), inbuf.size());
      if (k > 0) {
        inbuf.erase(0, static_cast<size_t>(k));
        if (inbuf.empty() && !stdin_open && r.pty < 0 && r.stdin_pipe) r.stdin_pipe->reset();
      } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
        inbuf.clear();  // the workload closed its stdin
        stdin_open = false;
        if (r.pty < 0 && r.stdin_pipe) r.stdin_pipe->reset();
      }
    }
  }
}

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

// Records a start failure and, for --rm, removes the record.
void record_failure(const Records& rec, const ContainerConfig& cfg, State& st, int status, const std::string& why) {
  try {
    st.status = "exited";
    st.exit_code = status;
    st.error = why;
    st.finished_at = now_rfc3339_nano();
    if (cfg.auto_remove) {
      rec.save_exit_note(cfg.id, st);
      rec.remove(cfg.id, cfg.name);
      return;
    }
    rec.save_state(cfg.id, st);
  } catch (const std::exception&) {
    // the original error matters more
  }
}

void start_detached(const Records& rec, const ContainerConfig& cfg);

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
    if (!rec.load_state(cfg.id).started_at.empty() && path_exists(a.work_dir + "/vm-rw.ext4")) {
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
    if (spec.net == container::NetMode::Bridge && !spec.netcfg.address.empty()) wire = wire_container_network(cfg.id, spec.netcfg);
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
  UniqueFd pidfd = pidfd_open(st.pid);

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
    rec.remove(cfg.id, name);
  } else {
    rec.save_state(cfg.id, st);
  }
  HVRUN_DEBUG("engine", "container ", cfg.id.substr(0, 12), cfg.auto_remove ? " removed (--rm)" : " state saved");
  if (exit_out && !cfg.auto_remove)
    *exit_out = {true, st, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()};
  return st.exit_code;
}

// -d: setsid + double fork; the grandchild is the monitor. Returns once the
// workload runs (or throws why it could not start).
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

}  // namespace

namespace {

// The record of a new container (run and create): the image resolved, the
// spec built, the record made and its network attached. Returns the
// record's lock, held.
FileLock make_record(const std::string& store_root, const RunOptions& opts, Records& rec, ContainerConfig& cfg) {
  std::optional<VmAssets> vm;
  if (opts.mode == Mode::Vm) vm = locate_vm_assets(false);  // refuses fast on a host that cannot boot Linux
  HVRUN_DEBUG("engine", "run: mode ", to_string(opts.mode), ", store ", store_root);
  image::Store store(store_root);
  // Refused before anything is made: the container's upper dir would live here.
  if (!vm) {
    if (std::string why = container::overlay_upper_problem(store_root); !why.empty()) throw Error(why);
  }
  image::ImageRecord img = store.resolve(opts.image);
  HVRUN_DEBUG("engine", "image resolved: ", opts.image, " -> ", img.id.substr(0, 12), " (", img.layers.size(), " layers)");
  if (vm) {
    cfg.vm_kernel = vm->kernel;
    cfg.vm_guest_init = vm->guest_init;
    cfg.vm_image_disk = image::ensure_vm_disk(store, img);
    HVRUN_DEBUG("engine", "vm assets: kernel ", vm->kernel, ", guest-init ", vm->guest_init, ", hvrun-vmm ", vm->vmm,
                ", image disk ", cfg.vm_image_disk);
  }
  cfg.spec = build_spec(opts, img.config, process_env());
  cfg.spec.lowerdirs = store.layer_dirs(img);
  cfg.name = opts.name;
  cfg.image = opts.image;
  cfg.image_id = img.id;
  cfg.mode = opts.mode;
  cfg.auto_remove = opts.auto_remove;
  cfg.detach = opts.detach;
  cfg.owner_uid = opts.owner_uid;
  for (const auto& l : opts.labels) {
    const size_t eq = l.find('=');
    if (eq == 0) throw Error("invalid label \"" + l + "\": expected KEY=VALUE");
    cfg.labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  std::vector<net::PortSpec> ports = parse_ports(opts.publish);
  if (opts.publish_all) {
    // -P: every port the image exposes ("80/tcp", "53/udp", "8080"), unless -p gave it.
    for (const auto& e : img.config.exposed_ports) {
      net::PortSpec p;
      try {
        p = net::parse_port(e);
      } catch (const Error&) {
        continue;  // not a port hvrun can publish (a range, say)
      }
      if (std::none_of(ports.begin(), ports.end(), [&](const net::PortSpec& q) { return q.port == p.port && q.proto == p.proto; }))
        ports.push_back(p);
    }
    // Without a bridge network there is no address to publish: Docker ignores -P there too.
    if (cfg.spec.net != container::NetMode::Bridge) ports = parse_ports(opts.publish);
  }
  for (auto& p : ports) {
    if (p.host_port == 0) p.host_port = net::pick_host_port(p);
    cfg.publish.push_back(p.str());
  }
  resolve_named_volumes(store_root, cfg);
  // --dns-search or --dns-option alone replace the image's resolv.conf: its
  // nameservers are the host's (a bridge network's are set when it is attached).
  if (cfg.spec.dns.empty() && (!cfg.spec.dns_search.empty() || !cfg.spec.dns_options.empty()) &&
      cfg.spec.net != container::NetMode::Bridge)
    cfg.spec.dns = host_nameservers();
  const std::string& stop_signal = opts.stop_signal.empty() ? img.config.stop_signal : opts.stop_signal;
  if (!stop_signal.empty()) {
    try {
      parse_signal(stop_signal);
    } catch (const Error& e) {
      throw Error(std::string(opts.stop_signal.empty() ? "the image's STOPSIGNAL: " : "--stop-signal: ") + e.what());
    }
    cfg.stop_signal = stop_signal;
  }
  if (!opts.restart.empty()) {
    const RestartPolicy p = parse_restart_policy(opts.restart);
    if (p.name != "no" && opts.auto_remove)
      throw Error("conflicting options: --restart " + opts.restart + " and --rm (a removed container cannot restart)");
    cfg.restart_policy = p.name == "no" ? "" : p.name;
    cfg.restart_max = p.max;
  }
  if (opts.stop_timeout) {
    if (*opts.stop_timeout < 0 || *opts.stop_timeout > kMaxStopTimeout)
      throw Error("--stop-timeout " + std::to_string(*opts.stop_timeout) + ": must be 0 to " +
                  std::to_string(kMaxStopTimeout) + " seconds");
    cfg.stop_timeout = *opts.stop_timeout;
  }
  FileLock lock = rec.create(cfg);
  HVRUN_DEBUG("engine", "record created: ", cfg.id, cfg.name.empty() ? "" : " (" + cfg.name + ")", " in ", rec.dir(cfg.id));
  attach_record_network(store_root, rec, cfg);
  record_event(rec.base(), "create", cfg.id, cfg.name, cfg.image, cfg.owner_uid);
  return lock;
}

}  // namespace

int run(const std::string& store_root, const RunOptions& opts) {
  ::signal(SIGPIPE, SIG_IGN);
  Records rec(store_root);
  ContainerConfig cfg;
  FileLock lock = make_record(store_root, opts, rec, cfg);
  return run_record(rec, cfg, opts.detach);
}

std::string create(const std::string& store_root, const RunOptions& opts) {
  Records rec(store_root);
  ContainerConfig cfg;
  RunOptions o = opts;
  o.detach = true;  // its monitor, once started, is always a detached one
  FileLock lock = make_record(store_root, o, rec, cfg);
  // The log exists from now on, so that an attach made before the start
  // (docker run) holds it open even when a --rm container is gone at once.
  UniqueFd log(::open(rec.log_path(cfg.id).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640));
  if (!log) throw_sys("create", rec.log_path(cfg.id));
  State st = rec.load_state(cfg.id);
  st.start_pending = true;
  rec.save_state(cfg.id, st);
  return cfg.id;
}

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

void attach_record_network(const std::string& store_root, const Records& rec, ContainerConfig& cfg) {
  if (cfg.spec.net != container::NetMode::Bridge) {
    HVRUN_DEBUG("engine", "network: ", to_string(cfg.spec.net));
    return;
  }
  try {
    attach_network(store_root, cfg.id, cfg.spec);
    rec.save_config(cfg);
    const auto& n = cfg.spec.netcfg;
    HVRUN_DEBUG("engine", "network attached: ", n.network, " (bridge ", n.bridge, "), address ", n.address, "/", n.prefix,
                ", gateway ", n.gateway);
  } catch (...) {
    try {
      rec.remove(cfg.id, cfg.name);
    } catch (const std::exception&) {
    }
    throw;
  }
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

namespace {

void signal_running(const Records& rec, const std::string& id, int sig) {
  State st = rec.refresh(id);
  auto not_running = [&] {
    return Error("container " + id.substr(0, 12) + " is not running");
  };
  if (st.status != "running" || st.pid <= 0) throw not_running();
  UniqueFd pfd = pidfd_open(st.pid);
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

void remove_container(const Records& rec, const std::string& id, bool force) {
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
  rec.remove(id, cfg.name);
}

int exec_in_container(const Records& rec, const std::string& id, ExecOptions o) {
  ::signal(SIGPIPE, SIG_IGN);
  State st = rec.refresh(id);
  ContainerConfig cfg = rec.load_config(id);
  if (st.status != "running" || proc_starttime(st.pid) != st.pid_starttime)
    throw Error("container " + id.substr(0, 12) + " is not running");
  if (is_paused(cfg, st))
    throw Error("container " + id.substr(0, 12) + " is paused: unpause it first (hvrun unpause " + id.substr(0, 12) + ")");
  if (o.spec.env.empty()) o.spec.env = cfg.spec.env;
  else o.spec.env = merge_env(cfg.spec.env, o.spec.env);
  if (o.spec.cwd.empty()) o.spec.cwd = cfg.spec.cwd;
  if (o.spec.user.empty()) o.spec.user = cfg.spec.user;
  if (cfg.mode == Mode::Vm) return exec_in_vm(vm_control_socket(rec.dir(id)), id.substr(0, 12), o.spec, o.interactive);
  container::Stdio stdio{o.interactive && !o.spec.tty ? 0 : -1, 1, 2};
  // Forward SIGINT/SIGTERM/SIGHUP/SIGQUIT to the exec'd process (those that
  // arrive while it starts included); with -t also relay the pty and window size.
  SignalGate gate;
  container::ExecHandle h = container::exec_start(st.pid, cfg.spec, o.spec, stdio);
  UniqueFd pidfd = pidfd_open(h.pid);
  pid_t pid = h.pid;
  Relay r;
  r.pidfd = pidfd.get();
  r.on_signal = [pid](int sig) { ::kill(pid, sig); };
  if (!o.spec.tty || !h.pty_master) {
    relay(r, gate.fd());
  } else {
    set_nonblock(h.pty_master.get());
    if (auto w = window_size(0)) {
      winsize wsz{w->rows, w->cols, 0, 0};
      ::ioctl(h.pty_master.get(), TIOCSWINSZ, &wsz);
    }
    std::unique_ptr<RawMode> raw;
    if (o.interactive) raw = std::make_unique<RawMode>(0);
    r.pty = h.pty_master.get();
    r.forward_stdin = o.interactive;
    r.echo = true;
    int master = h.pty_master.get();
    r.on_winch = [master] {
      if (auto w = window_size(0)) {
        winsize wsz{w->rows, w->cols, 0, 0};
        ::ioctl(master, TIOCSWINSZ, &wsz);
      }
    };
    relay(r, gate.fd());
  }
  return container::exec_wait(h.pid).exit_code();
}

}  // namespace hvrun::engine
