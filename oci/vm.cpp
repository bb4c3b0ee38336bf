#include "oci/vm.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "container/namespaces.hpp"
#include "container/pty.hpp"
#include "engine/vm_backend.hpp"
#include "engine/vm_control.hpp"
#include "engine/vm_exec.hpp"
#include "image/flatten.hpp"
#include "oci/vm_net.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::oci {
namespace {

constexpr const char* kRootDisk = "rootfs.ext4";

// The signals the shim passes to the guest's process: all but those the
// kernel keeps (KILL, STOP), its own child's (CHLD) and the faults of the
// shim itself.
sigset_t forwarded_signals() {
  sigset_t s;
  sigfillset(&s);
  for (int sig : {SIGKILL, SIGSTOP, SIGCHLD, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS}) sigdelset(&s, sig);
  return s;
}

// Waits until `start` opens the exec FIFO for reading, and writes its byte.
// A signal that would end a process by default ends the shim while it
// waits (as it would a created runc container's init); others are dropped.
void wait_at_gate(const std::string& fifo) {
  const sigset_t s = forwarded_signals();
  for (;;) {
    UniqueFd gate(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (gate) {
      if (::write(gate.get(), "0", 1) != 1) throw_sys("write", fifo);
      return;
    }
    if (errno != ENXIO && errno != EINTR) throw_sys("open", fifo);
    const timespec tick{0, 20 * 1000 * 1000};
    const int sig = ::sigtimedwait(&s, nullptr, &tick);
    if (sig > 0 && sig != SIGWINCH && sig != SIGURG && sig != SIGCONT) ::_exit(128 + sig);
  }
}

std::optional<engine::WinSize> window_of(int tty) {
  winsize ws{};
  if (::ioctl(tty, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col) return std::nullopt;
  return engine::WinSize{ws.ws_row, ws.ws_col};
}

// A pty of the host's: its master is sent to the console socket `console`
// (as runc sends one), its slave returned.
UniqueFd pty_for_console(int console) {
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  char name[64];
  if (!master || ::grantpt(master.get()) < 0 || ::unlockpt(master.get()) < 0 ||
      ::ptsname_r(master.get(), name, sizeof name) != 0)
    throw_sys("open a pseudo-terminal", "/dev/ptmx");
  UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) throw_sys("open", name);
  container::send_fd(console, master.get());
  return slave;
}

// Copies from `from` to `to` until either ends.
void pump(int from, int to) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    if (!write_all(to, buf, size_t(n))) return;
  }
}

// The shim's life after fork: wait at the exec FIFO, boot, pass signals on,
// end as the guest's process ended. With a terminal (`tty_slave`: the
// slave of the pty whose master went to the console socket) the slave is
// its controlling terminal, raw: the guest's own pty does the line
// discipline, and a resize of the master (SIGWINCH) resizes the guest's.
// Never returns.
[[noreturn]] void shim(const std::string& fifo, const std::string& work_dir, const container::RunSpec& spec,
                       engine::VmAssets assets, bool detached, int tty_slave,
                       const std::function<void(const std::string&)>& error) {
  if (!detached) ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  ::prctl(PR_SET_NAME, "hvrun-oci-vm", 0, 0, 0);
  int code = 125;
  try {
    if (tty_slave >= 0) {
      container::become_tty_session(tty_slave);
      if (tty_slave > 2) ::close(tty_slave);
      termios t{};
      if (::tcgetattr(0, &t) == 0) {
        ::cfmakeraw(&t);
        ::tcsetattr(0, TCSANOW, &t);
      }
    }
    wait_at_gate(fifo);
    assets.work_dir = work_dir;
    // Never destroyed: the signal and relay threads use it until _exit (a
    // VMM left behind dies with this process: its parent-death signal).
    engine::Backend* vm = engine::make_vm_backend(std::move(assets)).release();
    const container::Stdio stdio = container::Stdio::inherited();
    const bool tty = tty_slave >= 0;
    vm->start(spec, stdio, tty ? window_of(0) : std::nullopt);
    // Every forwarded signal is blocked (the mask came from create): this
    // thread takes them and hands each to the guest.
    std::thread([b = vm, tty] {
      const sigset_t s = forwarded_signals();
      for (;;) {
        int sig = 0;
        if (::sigwait(&s, &sig) != 0) continue;
        if (sig == SIGWINCH && tty) {
          if (auto ws = window_of(0)) b->resize(*ws);
        } else {
          b->kill(sig);
        }
      }
    }).detach();
    std::thread output;
    struct DetachIfLeft {  // wait() threw: the process ends anyway
      std::thread& t;
      ~DetachIfLeft() {
        if (t.joinable()) t.detach();
      }
    } detach_if_left{output};
    if (tty) {
      std::thread([in = vm->pty_master()] { pump(0, in); }).detach();
      output = std::thread([out = vm->pty_master()] { pump(out, 1); });
    }
    container::ExitStatus es = vm->wait();
    if (output.joinable()) output.join();  // the guest's last output, up to the VMM's end of the stream
    if (const std::string why = vm->end_error(); !why.empty() && error) error("microVM: " + why);
    if (es.signal) {
      // Die as the guest's process died (no core of the shim).
      rlimit no_core{0, 0};
      ::setrlimit(RLIMIT_CORE, &no_core);
      ::signal(es.signal, SIG_DFL);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, es.signal);
      ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
      ::raise(es.signal);
    }
    code = es.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hvrun-oci: microVM: %s\n", e.what());
    if (error) error(std::string("microVM: ") + e.what());
  }
  std::fflush(stderr);
  ::_exit(code & 0xff);
}

}  // namespace

container::RunSpec vm_guest_spec(const container::RunSpec& in, const std::function<void(const std::string&)>& warn) {
  container::RunSpec s = in;
  // The root is the image disk's (guest-init's overlay over it): no host path.
  s.rootfs.clear();
  s.lowerdirs.clear();
  s.upperdir.clear();
  s.workdir.clear();
  // Namespaces joined by path are the host's: the guest's kernel has its
  // own. A network namespace's interface becomes the guest's card
  // (create_vm: oci/vm_net.hpp), so its path stays until then.
  for (const auto& [kind, path] : {std::pair{"ipc", &in.join.ipc}, {"uts", &in.join.uts}, {"pid", &in.join.pid},
                                   {"cgroup", &in.join.cgroup}, {"user", &in.join.user}})
    if (!path->empty() && warn)
      warn(std::string("config.json: linux.namespaces: the ") + kind + " namespace " + *path +
           " is the host's: a microVM's process gets one of its guest's own");
  s.join = container::JoinNamespaces{.net = in.join.net};
  if (s.net == container::NetMode::Host) {
    // No network namespace asked for: the guest's own network, which has
    // only loopback (there is no host network inside a VM).
    if (warn) warn("config.json: linux.namespaces: no network namespace: a microVM has its own network (loopback only)");
    s.net = container::NetMode::None;
  }
  return s;
}

pid_t create_vm(const StateDir& dir, Record r, const std::string& rootfs, bool detached, int console,
                const std::function<void(const std::string&)>& warn,
                const std::function<void(const std::string&)>& error) {
  // Where it cannot boot (no KVM, a PVM one): refused now, with the way out.
  engine::VmAssets assets = engine::locate_vm_assets(false);
  const std::string work = dir.dir(r.id);
  image::make_tree_disk(rootfs, work + "/" + kRootDisk, "hvrun-oci-root");
  assets.image_disk = work + "/" + kRootDisk;
  const std::string fifo = dir.exec_fifo(r.id);
  // A terminal: a pty of the host's; its master goes to the console socket
  // now (as runc's create sends it), its slave to the shim.
  UniqueFd tty_slave;
  if (r.spec.tty) tty_slave = pty_for_console(console);

  // A network namespace made for the container (podman's, a pod's): the VM
  // takes over its interface (last: nothing after it fails but the fork);
  // the shim is born inside the namespace, where its tap joins the
  // interface's bridge when the VM boots.
  container::JoinedNamespaces in_netns;
  if (!r.spec.join.net.empty() && !is_pod_sandbox(r.annotations)) {
    VmNetwork n = adopt_network_namespace(r.spec.join.net, warn);
    r.vm_netns = r.spec.join.net;
    r.spec.net = n.net;
    if (n.net == container::NetMode::Bridge) r.spec.netcfg = n.card;
    in_netns.net = std::move(n.netns);
  }
  r.spec.join = {};
  try {
    // The shim starts with every forwarded signal blocked: one sent between
    // fork and its sigwait waits instead of killing it.
    pid_t pid = -1;
    int fork_err = 0;
    {
      struct BlockedForTheFork {  // this thread's mask again, in the parent only
        sigset_t old;
        BlockedForTheFork() {
          const sigset_t all = forwarded_signals();
          check_sys(::pthread_sigmask(SIG_BLOCK, &all, &old), "sigprocmask");
        }
        ~BlockedForTheFork() { ::pthread_sigmask(SIG_SETMASK, &old, nullptr); }
      } blocked;
      container::InJoinedNamespaces there(in_netns);  // this thread, around the fork only
      std::fflush(nullptr);
      pid = ::fork();
      fork_err = errno;
      if (pid == 0) {
        if (console >= 0) ::close(console);  // the master went through it; the engine keeps its end
        shim(fifo, work, r.spec, std::move(assets), detached, tty_slave.get(), error);
      }
    }
    if (pid < 0) throw_sys("fork", "the microVM's shim", fork_err);
    try {
      r.pid = pid;
      r.pid_start = process_start_time(pid);
      r.vm = true;
      dir.save(r);
    } catch (...) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw;
    }
    return pid;
  } catch (...) {
    release_vm_network(r);
    throw;
  }
}

void release_vm_network(const Record& r) noexcept {
  if (r.vm_netns.empty() || r.spec.net != container::NetMode::Bridge) return;
  try {
    release_network_namespace(r.vm_netns, r.spec.netcfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hvrun-oci: warning: container %s: its network namespace's interface was not given back: %s\n",
                 r.id.c_str(), e.what());
  }
}

int exec_vm(const StateDir& dir, const Record& r, const ExecOptions& o, int console) {
  const std::string sock = engine::vm_control_socket(dir.dir(r.id));
  // Just started, the VM may still be booting: its monitor's socket comes
  // with the VMM (then sessions wait for the guest). Up to 2 minutes while
  // the shim lives.
  for (int i = 0; i < 2400 && !engine::connect_control(sock); ++i) {
    if (!alive(r)) throw Error("container " + r.id + " is not running");
    ::usleep(50 * 1000);
  }
  if (!o.detach && !o.process.tty) return engine::exec_in_vm(sock, r.id, o.process, true);
  // A relay process: detached, it outlives us (the caller's subreaper reaps
  // it; its pid goes to the pid file); with a terminal, the slave of a pty
  // whose master went to the console socket is its controlling terminal
  // (the session takes its size, and a resize, from it).
  UniqueFd tty_slave;
  if (o.process.tty) tty_slave = pty_for_console(console);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_sys("fork", "the exec's relay");
  if (pid == 0) {
    int code = 126;
    try {
      if (tty_slave) container::become_tty_session(tty_slave.get());
      code = engine::exec_in_vm(sock, r.id, o.process, true);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "hvrun-oci: exec: %s\n", e.what());
    }
    std::fflush(nullptr);
    ::_exit(code & 0xff);
  }
  tty_slave.reset();
  if (!o.pid_file.empty()) write_file_atomic(o.pid_file, std::to_string(pid), 0644);
  if (o.detach) return 0;
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) throw_sys("wait for the exec's relay");
  return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

}  // namespace hvrun::oci
