// Container lifecycle: start (clone straight into the new namespaces, no
// helper process or re-exec), wait, kill, cleanup, and exec into a running
// container.
//
// start() handshake:
//   parent                         child (clone: mnt pid uts ipc [net] [user])
//   cgroup mkdir + limits
//   open v1 `tasks` files
//   clone ------------------------> join cgroups (write "0" to each `tasks`),
//                                    PDEATHSIG, !dumpable, stdio; blocks on `go`
//   uid/gid maps (userns)
//   write `go` 1 ------------------> hostname, root mount, /proc, /dev
//   write `go` 2 ------------------> unshare(cgroup ns), /sys + cgroup fs,
//                                    masks, binds, pivot_root, pty
//   recv pty master  <-------------- seccomp (nnp off), user, caps, nnp (on),
//                                    close_range, seccomp (nnp on)
//   read report pipe: EOF = exec'd   execve (or report errno, _exit 127/126)
// On cgroup v1 the child moves itself (one thread, pid 0: no global
// threadgroup lock, so no RCU grace period as a cgroup.procs write by pid
// costs). On cgroup v2, clone3(CLONE_INTO_CGROUP) creates the child directly
// in its cgroup (no migration at all); the parent adds the pid only when
// neither works. `go` 2 then follows `go` 1 at once. A user namespace
// joined by path: a helper enters it and clones the child with CLONE_PARENT
// (clone_in_user_namespace); the handshake is the same.
#include "container/runtime.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>

#include "container/capabilities.hpp"
#include "container/cgroups.hpp"
#include "container/mounts.hpp"
#include "container/net.hpp"
#include "container/env.hpp"
#include "container/namespaces.hpp"
#include "container/process.hpp"
#include "container/sysctl.hpp"
#include "container/pty.hpp"
#include "container/seccomp.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace hvrun::container {
namespace {

struct Channels {
  Pipe report;  // child -> parent, CLOEXEC: EOF when the exec succeeded
  // parent -> child "go" bytes. A socketpair so that a dead child is EPIPE
  // (MSG_NOSIGNAL), not SIGPIPE, and a dead parent is EOF.
  UniqueFd go_parent, go_child;
  UniqueFd sock_parent, sock_child;  // pty master travels here

  static Channels make(bool tty) {
    Channels c{Pipe::make(), {}, {}, {}, {}};
    int sv[2];
    check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    c.go_parent.reset(sv[0]);
    c.go_child.reset(sv[1]);
    if (tty) {
      check_sys(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "socketpair");
      c.sock_parent.reset(sv[0]);
      c.sock_child.reset(sv[1]);
    }
    return c;
  }
  // Child side: drop the parent's ends (so a dead parent reads as EOF on `go`).
  void child_side() {
    ::close(report.read.release());
    ::close(go_parent.release());
    if (sock_parent) ::close(sock_parent.release());
  }
  void parent_side() {
    report.write.reset();
    go_child.reset();
    sock_child.reset();
  }
  void wait_go() {
    char b;
    ssize_t n;
    do n = ::read(go_child.get(), &b, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) ::_exit(1);  // the parent died or gave up
  }
  void send_go() {
    char b = 'g';
    if (::send(go_parent.get(), &b, 1, MSG_NOSIGNAL) != 1) throw_sys("signal container process");
  }
};

pid_t raw_clone(unsigned long flags) {
  // fork-like clone: the child continues here on a copy of our stack.
  return pid_t(::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
}

// clone3 straight into a cgroup v2 directory. -1 with errno when the kernel
// (or a seccomp filter around us) does not offer it; the caller falls back.
pid_t raw_clone_into_cgroup(unsigned long flags, int cgroup_fd) {
  clone_args args{};
  args.flags = flags | CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = uint64_t(cgroup_fd);
  return pid_t(::syscall(SYS_clone3, &args, sizeof args));
}

// Clones the container's process from inside the user namespace `userfd`
// (joined by path), so that the new namespaces of `flags` are owned by it.
// setns into a user namespace needs a single-threaded caller and changes
// its credentials, so a helper forked here enters it and clones with
// CLONE_PARENT: the process is still our child (waitpid, PDEATHSIG), and
// the helper reports its pid (or the errno) and exits. The helper enters a
// joined pid namespace (`pidfd`, or -1) for its child only, so that it is
// itself still in ours and the pid it reports is ours. 0 in the container's
// process, its pid here, -1 with errno when it could not be made.
pid_t clone_in_user_namespace(int userfd, int pidfd, unsigned long flags) {
  Pipe p = Pipe::make();
  const pid_t helper = raw_clone(0);
  if (helper < 0) return -1;
  if (helper == 0) {
    p.read.reset();
    int32_t msg[2] = {-1, 0};  // pid, errno
    if ((pidfd >= 0 && ::setns(pidfd, CLONE_NEWPID) < 0) || ::setns(userfd, CLONE_NEWUSER) < 0) {
      msg[1] = errno;
    } else {
      const pid_t pid = raw_clone(flags | CLONE_PARENT);
      if (pid == 0) {
        p.write.reset();
        return 0;
      }
      msg[0] = pid;
      msg[1] = pid < 0 ? errno : 0;
    }
    ssize_t n;
    do n = ::write(p.write.get(), msg, sizeof msg);
    while (n < 0 && errno == EINTR);
    ::_exit(0);
  }
  p.write.reset();
  int32_t msg[2] = {-1, EIO};
  size_t got = 0;
  while (got < sizeof msg) {
    const ssize_t n = ::read(p.read.get(), reinterpret_cast<char*>(msg) + got, sizeof msg - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += size_t(n);
  }
  int st;
  while (::waitpid(helper, &st, 0) < 0 && errno == EINTR) {
  }
  if (got != sizeof msg) msg[0] = -1, msg[1] = EIO;  // the helper died before it said
  if (msg[0] < 0) errno = msg[1];
  return msg[0];
}

[[noreturn]] void start_child(const RunSpec& spec, const Stdio& stdio, Channels& ch, const ProcessSetup& setup,
                              CgroupVersion cgv, const std::vector<Cgroup::JoinFile>& join, const JoinedNamespaces& joined) {
  // Born in the joined namespaces (InJoinedNamespaces around the clone).
  int report = ch.report.write.get();
  try {
    ch.child_side();
    Cgroup::join_self(join);  // first: nothing of ours runs outside the limits
    if (setup.parent_death_signal) ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (!spec.tty) setup_stdio(stdio);
    std::vector<UniqueFd> layers;
    if (spec.userns) {
      size_t n = spec.lowerdirs.empty() ? 1 : spec.lowerdirs.size();
      for (size_t i = 0; i < n; ++i) {
        UniqueFd fd = recv_fd(ch.go_child.get());
        if (!fd) break;  // no idmapped layers (marker byte) or the parent is gone (wait_go exits)
        layers.push_back(std::move(fd));
      }
      if (layers.size() != n) layers.clear();
    }
    ch.wait_go();
    if (spec.userns || joined.user) {
      check_sys(::setresgid(0, 0, 0), "setgid 0 in the user namespace");
      check_sys(::setresuid(0, 0, 0), "setuid 0 in the user namespace");
    }
    // A joined uts namespace keeps its name unless the spec gives one, and
    // the runtime set that (apply_joined_settings), as the joined ones' sysctls.
    if (!joined.uts) {
      std::string host = spec.hostname.empty() ? spec.id.substr(0, 12) : spec.hostname;
      if (host.empty()) host = "hvrun";
      check_sys(::sethostname(host.data(), host.size()), "sethostname", host);
    }
    if (spec.net != NetMode::Host && !joined.net) bring_up_loopback();  // our own netns
    // In our namespaces, through the host's /proc (checked at parse).
    apply_sysctls(sysctls_kept_by(spec.sysctls, !joined.net, !joined.ipc, !joined.uts));
    RootfsResult rf = setup_rootfs(spec, cgv, [&] {
      ch.wait_go();
      ch.go_child.reset();
      // Now that we are in our cgroup, it becomes the root of our cgroup
      // view (a joined cgroup namespace is already ours).
      if (!joined.cgroup) check_sys(::unshare(CLONE_NEWCGROUP), "unshare(CLONE_NEWCGROUP)");
    }, std::move(layers));
    check_sys(::setsid(), "setsid");
    if (rf.pty) {
      if (spec.tty_rows && spec.tty_cols) set_window_size(rf.pty->master.get(), spec.tty_rows, spec.tty_cols);
      send_fd(ch.sock_child.get(), rf.pty->master.get());
      rf.pty->master.reset();
      become_tty_session(rf.pty->slave.get());
      rf.pty->slave.reset();
    }
    ch.sock_child.reset();
    finish_and_exec(setup, report);
  } catch (const std::exception& e) {
    report_failure_and_exit(report, e.what());
  }
}

[[noreturn]] void exec_child(const NamespaceFds& ns, const ExecSpec& es, const Stdio& stdio, Channels& ch,
                             const ProcessSetup& setup, const std::vector<Cgroup::JoinFile>& join) {
  int report = ch.report.write.get();
  try {
    ch.child_side();
    Cgroup::join_self(join);
    if (setup.parent_death_signal) ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (!es.tty) setup_stdio(stdio);
    ch.wait_go();
    ch.go_child.reset();
    join_namespaces(ns);
    if (ns.user) {
      check_sys(::setresgid(0, 0, 0), "setgid 0 in the user namespace");
      check_sys(::setresuid(0, 0, 0), "setuid 0 in the user namespace");
    }
    check_sys(::chdir("/"), "chdir /");
    check_sys(::setsid(), "setsid");
    if (es.tty) {
      UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!root) throw_sys("open", "/");
      UniqueFd pts = open_in_root(root.get(), "/dev/pts", Create::No);
      if (!pts) throw Error("container has no /dev/pts");
      PtyPair pty = open_pty(pts.get(), "ptmx");
      if (es.tty_rows && es.tty_cols) set_window_size(pty.master.get(), es.tty_rows, es.tty_cols);
      send_fd(ch.sock_child.get(), pty.master.get());
      pty.master.reset();
      become_tty_session(pty.slave.get());
    }
    ch.sock_child.reset();
    finish_and_exec(setup, report);
  } catch (const std::exception& e) {
    report_failure_and_exit(report, e.what());
  }
}

// "mnt pid uts ipc net user" from clone flags, for the diagnostics.
std::string namespace_names(unsigned long f) {
  std::string out;
  for (auto [flag, name] : {std::pair{CLONE_NEWNS, "mnt"}, {CLONE_NEWPID, "pid"}, {CLONE_NEWUTS, "uts"},
                            {CLONE_NEWIPC, "ipc"}, {CLONE_NEWNET, "net"}, {CLONE_NEWUSER, "user"}})
    if (f & static_cast<unsigned long>(flag)) out += out.empty() ? name : std::string(" ") + name;
  return out;
}

std::string cgroup_root_of(const RunSpec& s) { return s.cgroup_root.empty() ? "/sys/fs/cgroup" : s.cgroup_root; }

}  // namespace

Container Container::start(const RunSpec& spec, const Stdio& stdio, const std::function<void(pid_t)>& on_namespaces) {
  return start_gated(spec, stdio, nullptr, on_namespaces);
}

Container Container::create(const RunSpec& spec, const Stdio& stdio, const Gate& gate,
                            const std::function<void(pid_t)>& on_namespaces) {
  return start_gated(spec, stdio, &gate, on_namespaces);
}

Container Container::start_gated(const RunSpec& spec, const Stdio& stdio, const Gate* gate,
                                 const std::function<void(pid_t)>& on_namespaces) {
  if (spec.args.empty()) throw Error("run spec: no command");
  ProcessSetup setup{spec.args, spec.env, spec.cwd, spec.user};
  apply_security(spec, setup);
  setup.init = spec.init;
  // The gate's FIFO, opened here (O_PATH: no reader needed) so that the init
  // reaches it after pivot_root through /proc/self/fd.
  UniqueFd gate_fd;
  if (gate) {
    struct stat st;
    if (::stat(gate->exec_fifo.c_str(), &st) < 0) throw_sys("stat", gate->exec_fifo);
    if (!S_ISFIFO(st.st_mode)) throw Error("exec fifo " + gate->exec_fifo + ": not a FIFO");
    gate_fd.reset(::open(gate->exec_fifo.c_str(), O_PATH | O_CLOEXEC));
    if (!gate_fd) throw_sys("open", gate->exec_fifo);
    setup.gate_fd = gate_fd.get();
    setup.parent_death_signal = !gate->detached;
  }
  HVRUN_DEBUG("runtime", "security: ", spec.privileged ? "privileged, " : "", setup.filters.size(),
              " seccomp filter(s) compiled (profile ", spec.seccomp.mode == SeccompMode::Custom ? "custom JSON" : spec.seccomp.to_string(),
              "), no_new_privs ", setup.no_new_privs);

  prepare_rootfs_dirs(spec);
  HVRUN_DEBUG("runtime", "rootfs: ", spec.rootfs.empty() ? "overlay of " + std::to_string(spec.lowerdirs.size()) + " layer(s), upper " + spec.upperdir : spec.rootfs,
              spec.readonly_rootfs ? " (read-only)" : "", ", ", spec.mounts.size(), " volume(s)");
  std::shared_ptr<Cgroup> cg = Cgroup::for_container(spec.cgroup_parent, spec.id, cgroup_root_of(spec));
  try {
    cg->create({spec.memory_bytes, spec.cpus, spec.pids_limit});
  } catch (...) {
    try {
      cg->destroy();
    } catch (...) {
    }
    throw;
  }
  HVRUN_DEBUG("runtime", "cgroup ", cg->version() == CgroupVersion::V2 ? "v2 " : "v1 ", cg->path(), ": memory ",
              spec.memory_bytes, ", cpus ", spec.cpus, ", pids ", spec.pids_limit, " (0: no limit)");
  Channels ch = Channels::make(spec.tty);
  pid_t pid = -1;
  bool in_cgroup = false;
  std::vector<Cgroup::JoinFile> join;
  JoinedNamespaces joined;
  std::optional<InJoinedNamespaces> in_joined;  // this thread, around the clone only
  try {
    join = cg->open_join_files();
    joined = open_joined_namespaces(spec);
    check_joined_settings(spec, joined);
    in_joined.emplace(joined);
    apply_joined_settings(spec, joined);
  } catch (...) {
    in_joined.reset();
    try {
      cg->destroy();
    } catch (...) {
    }
    throw;
  }
  if (joined.user) {
    pid = clone_in_user_namespace(joined.user.get(), joined.pid ? joined.pid.get() : -1, clone_flags(spec));
    in_cgroup = !join.empty();  // v1: the child joins by itself; else added by pid
  } else {
    if (!join.empty()) {
      in_cgroup = true;  // the child joins by itself, first thing
      pid = raw_clone(clone_flags(spec));
    } else if (cg->version() == CgroupVersion::V2) {
      UniqueFd dir(::open(cg->path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (dir) {
        pid = raw_clone_into_cgroup(clone_flags(spec), dir.get());
        in_cgroup = pid >= 0;
      }
    }
    if (!in_cgroup) pid = raw_clone(clone_flags(spec));
  }
  int clone_err = errno;
  if (pid == 0) start_child(spec, stdio, ch, setup, cg->version(), join, joined);
  in_joined.reset();  // back in our own namespaces
  if (pid < 0) {
    cg->destroy();
    throw_sys("clone", clone_err);
  }
  joined = {};

  ch.parent_side();
  HVRUN_DEBUG("runtime", "cloned pid ", pid, " into namespaces ", namespace_names(clone_flags(spec)),
              in_cgroup ? (join.empty() ? " (born in its cgroup)" : " (joins its cgroup itself)") : " (added to its cgroup by pid)");
  join.clear();
  Container c;
  c.pid_ = pid;
  c.cg_ = cg;
  c.cgroup_ = cg->path();
  try {
    if (spec.userns) {
      write_id_maps(pid, spec);
      std::string ns = "/proc/" + std::to_string(pid) + "/ns/user";
      UniqueFd userns(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
      if (!userns) throw_sys("open", ns);
      std::vector<UniqueFd> layers;
      try {
        layers = make_idmapped_layers(spec, userns.get());
      } catch (const Error&) {
        // The layers' filesystem cannot be idmapped (e.g. 9p): use them as
        // they are; image files then show as nobody inside.
      }
      if (layers.empty()) {  // that, or a rootfs already the mapped root's
        char none = 'n';
        if (::send(ch.go_parent.get(), &none, 1, MSG_NOSIGNAL) != 1) throw_sys("signal container process");
      }
      for (auto& layer : layers) send_fd(ch.go_parent.get(), layer.get());
    }
    if (spec.userns) HVRUN_DEBUG("runtime", "pid ", pid, ": uid/gid maps written");
    if (on_namespaces) {
      on_namespaces(pid);
      HVRUN_DEBUG("runtime", "pid ", pid, ": network namespace wired");
    }
    ch.send_go();
    if (!in_cgroup) cg->add(pid);
    ch.send_go();
    ch.go_parent.reset();
    if (spec.tty) c.pty_master_ = recv_fd(ch.sock_parent.get());
    if (gate) {
      await_gate(ch.report.read.get());  // the catch below reaps the child
      HVRUN_DEBUG("runtime", "pid ", pid, ": set up; waits at ", gate->exec_fifo, " to exec ", spec.args[0]);
    } else {
      rethrow_report(ch.report.read.get());  // the catch below reaps the child
      HVRUN_DEBUG("runtime", "pid ", pid, ": hostname, mounts, pivot_root, capabilities and seccomp done; exec'd ",
                  spec.args[0]);
    }
  } catch (...) {
    HVRUN_DEBUG("runtime", "pid ", pid, ": start failed, cleaning up");
    if (!c.reaped_) {
      ::kill(pid, SIGKILL);
      int st;
      ::waitpid(pid, &st, 0);
    }
    c.pid_ = -1;
    try {
      cg->destroy();
    } catch (...) {
    }
    // What the child reported (e.g. a refused mount) beats our EPIPE/ESRCH.
    rethrow_report(ch.report.read.get());
    throw;
  }
  return c;
}

Container::Container(Container&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      pty_master_(std::move(o.pty_master_)),
      cgroup_(std::move(o.cgroup_)),
      reaped_(o.reaped_),
      cg_(std::move(o.cg_)) {}

Container& Container::operator=(Container&& o) noexcept {
  if (this != &o) {
    this->~Container();
    new (this) Container(std::move(o));
  }
  return *this;
}

Container::~Container() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int st;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

ExitStatus Container::wait() {
  if (pid_ <= 0 || reaped_) throw Error("container process already reaped");
  ExitStatus s = wait_exit(pid_);
  reaped_ = true;
  if (cg_) s.oom_killed = cg_->oom_killed();
  HVRUN_DEBUG("runtime", "pid ", pid_, " ended: ", s.signal ? "signal " + std::to_string(s.signal) : "exit code " + std::to_string(s.code),
              s.oom_killed ? " (OOM killed)" : "");
  return s;
}

void Container::kill(int sig) {
  if (pid_ <= 0 || reaped_) return;
  if (::kill(pid_, sig) < 0 && errno != ESRCH) throw_sys("kill", std::to_string(pid_));
}

void Container::set_pty_size(unsigned short rows, unsigned short cols) {
  if (!pty_master_) throw Error("container has no tty");
  set_window_size(pty_master_.get(), rows, cols);
}

void cleanup(const std::string& id, const std::string& cgroup_parent, const std::string& cgroup_root) {
  Cgroup::for_container(cgroup_parent, id, cgroup_root.empty() ? "/sys/fs/cgroup" : cgroup_root)->destroy();
}

ExecHandle exec_start(pid_t init_pid, const RunSpec& cspec, const ExecSpec& es, const Stdio& stdio, bool detached) {
  if (es.args.empty()) throw Error("exec: no command");
  ProcessSetup setup{es.args, merge_env(cspec.env, es.env), es.cwd.empty() ? cspec.cwd : es.cwd,
                     es.user.empty() ? cspec.user : es.user};
  apply_security(cspec, setup);
  setup.parent_death_signal = !detached;
  NamespaceFds ns = open_namespaces(init_pid);
  auto cg = Cgroup::for_container(cspec.cgroup_parent, cspec.id, cgroup_root_of(cspec));
  std::vector<Cgroup::JoinFile> join = cg->open_join_files();
  Channels ch = Channels::make(es.tty);

  // Our children (only) are born in the container's pid namespace (the
  // child joins the others itself); this thread's own pid namespace is
  // restored right after the clone.
  JoinedNamespaces pid_only;
  pid_only.pid = std::move(ns.pid);
  std::optional<InJoinedNamespaces> in_pidns(std::in_place, pid_only);
  HVRUN_DEBUG("runtime", "exec into pid ", init_pid, ": ", es.args[0]);
  pid_t pid = raw_clone(0);
  int clone_err = errno;
  if (pid == 0) exec_child(ns, es, stdio, ch, setup, join);
  in_pidns.reset();
  if (pid < 0) throw_sys("clone", clone_err);
  ch.parent_side();
  bool joins_itself = !join.empty();
  join.clear();
  ExecHandle h;
  h.pid = pid;
  try {
    if (!joins_itself) cg->add(pid);
    ch.send_go();
    ch.go_parent.reset();
    if (es.tty) h.pty_master = recv_fd(ch.sock_parent.get());
    rethrow_report(ch.report.read.get());  // the catch below reaps the child
  } catch (...) {
    ::kill(pid, SIGKILL);
    int st;
    ::waitpid(pid, &st, 0);
    rethrow_report(ch.report.read.get());
    throw;
  }
  return h;
}

ExitStatus exec_wait(pid_t pid) { return wait_exit(pid); }

Stdio Stdio::inherited() {
  Stdio s;
  s.in = ::fcntl(0, F_GETFD) >= 0 ? 0 : -1;
  s.out = ::fcntl(1, F_GETFD) >= 0 ? 1 : -1;
  s.err = ::fcntl(2, F_GETFD) >= 0 ? 2 : -1;
  return s;
}

bool open_gate(const std::string& exec_fifo, const std::function<bool()>& init_alive) {
  // Non-blocking: the open succeeds with no writer yet; then wait for the
  // init's byte, checking that the init still lives (it may have been killed
  // while created). A FIFO that never had a writer reports no POLLHUP.
  UniqueFd fd(::open(exec_fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw_sys("open", exec_fifo);
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, 50);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_sys("poll", exec_fifo);
    if (n > 0) {
      char b;
      ssize_t r = ::read(fd.get(), &b, 1);
      if (r == 1) return true;
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      return false;  // the writer left without its byte
    }
    if (init_alive && !init_alive()) return false;
  }
}

}  // namespace hvrun::container
