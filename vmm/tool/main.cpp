// hvrun-vmm: the VMM process, a small executable of its own (vmm/ + util/
// only) so that the process that holds a VM costs little memory beside the
// guest's RAM. Two ways in:
//   `hvrun vmm ARGS...`  hvrun execs `hvrun-vmm ARGS...` in place (args.hpp):
//                        the low-level VMM, like a tiny firecracker/lkvm.
//   `hvrun --vm ...`     the engine's monitor forks and execs
//                        `hvrun-vmm --launch-fd N` (launch.hpp, relay.hpp).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/log.hpp"
#include "util/netif.hpp"
#include "vmm/tap.hpp"
#include "vmm/jail.hpp"
#include "vmm/snapshot_file.hpp"
#include "vmm/tool/args.hpp"
#include "vmm/tool/launch.hpp"
#include "vmm/tool/relay.hpp"
#include "vmm/vm.hpp"

namespace hvrun::vmm::tool {
namespace {

// Raw terminal on stdin while the VM runs (so keys reach the guest), restored on exit.
class RawTerminal {
 public:
  RawTerminal() {
    if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) active_ = true;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

void on_stop_signal(int) { request_stop(); }
void on_snapshot_signal(int sig) {
  if (sig == SIGRTMIN + 5) request_held_snapshot();
  else if (sig == SIGRTMIN + 6) release_held_snapshot();
  else request_snapshot(sig == SIGUSR2 || sig == SIGRTMIN + 4);
}

const char* reason_name(VmResult::Reason r) {
  switch (r) {
    case VmResult::Reason::Reset: return "reset";
    case VmResult::Reason::Halt: return "halt";
    case VmResult::Reason::Shutdown: return "shutdown";
    case VmResult::Reason::Error: return "error";
  }
  return "?";
}

// What the VM was, how it booted and how it ended, for the diagnostics.
// (Not "guest init reached after": scripts/bench-vm.sh counts those lines.)
void log_start(const VmConfig& cfg) {
  HVRUN_DEBUG("vmm", "starting a VM: kernel ", cfg.kernel, cfg.raw_kernel ? " (raw)" : "", ", ", cfg.vcpus, " vCPU(s), ",
              cfg.mem_bytes >> 20, " MiB, ", cfg.disks.size(), " disk(s), ", cfg.shares.size(), " share(s), ", cfg.nics.size(),
              " network card(s), ", cfg.consoles.size(), " console(s)");
}
void log_end(const VmResult& r) {
  HVRUN_DEBUG("vmm", "VM ended: ", reason_name(r.reason), r.detail.empty() ? "" : ": " + r.detail, "; setup ",
              log::ms(r.setup_ns), " (kernel and initrd loaded in ", log::ms(r.load_ns), "), boot timer ",
              r.boot_ns ? "written by the guest at " + log::ms(r.boot_ns) : std::string("never written"));
}


// `hvrun vmm`: serial console on stdout, stdin to ttyS0 (or hvc0).
int run_command_line(const Args& a) {
  VmConfig cfg;
  cfg.kernel = a.kernel;
  cfg.initrd = a.initrd;
  cfg.cmdline = a.cmdline;
  cfg.mem_bytes = a.mem_bytes;
  cfg.vcpus = a.cpus;
  cfg.raw_kernel = a.raw;
  cfg.debug = a.debug;
  cfg.disks = a.disks;
  cfg.shares = a.shares;
  cfg.restore_from = a.restore;
  cfg.snapshot_path = a.snapshot_to;
  std::vector<UniqueFd> taps;  // open for as long as the VM runs
  for (const auto& t : a.net_taps) {
    std::string ifname;
    taps.push_back(open_tap(t.name, &ifname));
    if (!t.bridge.empty()) join_bridge(t.bridge, ifname);
    link_up(ifname);
    cfg.nics.push_back({taps.back().get(), t.mac});
  }
  cfg.serial_out_fd = STDOUT_FILENO;
  if (a.console_stdio) {
    cfg.consoles.push_back({STDIN_FILENO, STDOUT_FILENO});
    if (cfg.cmdline.find("console=hvc0") == std::string::npos) cfg.cmdline += " console=hvc0";
  } else {
    cfg.serial_in_fd = STDIN_FILENO;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  if (!a.snapshot_to.empty()) {
    sa.sa_handler = on_snapshot_signal;
    ::sigaction(SIGUSR1, &sa, nullptr);
    ::sigaction(SIGUSR2, &sa, nullptr);
  }
  VmResult r;
  log_start(cfg);
  {
    RawTerminal raw;
    r = run_vm(cfg);
  }
  log_end(r);
  for (const auto& b : r.broken_devices) std::fprintf(stderr, "hvrun: guest broke a device: %s\n", b.c_str());
  const bool notable = r.detail.find("triple fault") != std::string::npos;
  if ((a.debug && r.reason != VmResult::Reason::Error) || notable)
    std::fprintf(stderr, "hvrun: vm ended: %s%s%s\n", reason_name(r.reason), r.detail.empty() ? "" : ": ", r.detail.c_str());
  if (a.debug && r.boot_ns)
    std::fprintf(stderr, "hvrun: boot timer: guest init reached after %.3f ms\n", static_cast<double>(r.boot_ns) / 1e6);
  if (a.debug && r.restore_ns)
    std::fprintf(stderr, "hvrun: restored from %s: ready to run after %.3f ms\n", a.restore.c_str(), static_cast<double>(r.restore_ns) / 1e6);
  if (r.reason == VmResult::Reason::Error) throw Error("vm failed: " + r.detail);
  return 0;
}

std::string read_launch(int fd) {
  UniqueFd owned(fd);
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off_t(text.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_sys("read the launch config from fd " + std::to_string(fd));
    if (n == 0) break;
    text.append(buf, size_t(n));
  }
  return text;
}

// `hvrun --vm`: the engine's monitor started us (launch.hpp).
int run_launched(int launch_fd) {
  Launch l = launch_from_json(read_launch(launch_fd));
  ::signal(SIGPIPE, SIG_IGN);
  // The monitor blocked the forwarded signals before exec so that none
  // could end this process before their handlers are in place. They queue
  // on the relay's pipe until the relay runs.
  sigset_t fwd;
  forwarded_signals(&fwd);
  int signals = -1;
  if (l.relay.monitor >= 0) {
    signals = install_signal_forwarding();
  } else {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  }
  ::sigprocmask(SIG_UNBLOCK, &fwd, nullptr);
  if (l.vm.snapshot_fd >= 0) {
    struct sigaction sa {};
    sa.sa_handler = on_snapshot_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGRTMIN + 3, SIGRTMIN + 4, SIGRTMIN + 5, SIGRTMIN + 6}) ::sigaction(sig, &sa, nullptr);
  }
  // The relay starts once the VM is set up (and, jailed, once this process
  // is the unprivileged user): its first step is its own filter.
  std::thread relay;
  const bool jailed = l.jail.enabled;
  auto start_relay = [&](bool jailed) {
    if (l.relay.monitor < 0) return;
    RelayFds fds{signals, l.relay.monitor, l.relay.hvc2, l.relay.gate, l.relay.input, l.relay.tty, l.relay.guest_ready};
    relay = std::thread([fds, jailed] {
      if (jailed) {
        try {
          jail_thread(ThreadRole::Relay);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "hvrun-vmm: relay: %s\n", e.what());
          std::_Exit(hvrun::kHvrunErrorStatus);
        }
      }
      relay_loop(fds);
    });
  };
  VmResult r;
  try {
    // A snapshot names the CPU it was taken on, from /proc/cpuinfo, which
    // the jail's root does not have: read it now.
    if (l.vm.snapshot_fd >= 0 || !l.vm.restore_from.empty()) (void)snapshot::Origin::here();
    // The jail's limits (address space, threads) follow the restored VM's
    // size; the snapshot is opened here, before the jail, and run_vm uses it.
    if (!l.vm.restore_from.empty()) open_restore_snapshot(l.vm);
    apply_file_binds(l.file_binds);
    if (jailed) {
      enter_jail_root(l.vm);
      const unsigned threads = l.vm.vcpus + unsigned(l.vm.shares.size()) + 2;
      l.vm.after_setup = [&] {
        jail_identity(l.jail, l.vm.mem_bytes, threads);
        start_relay(true);
      };
      l.vm.enter_thread = jail_thread;
    } else {
      l.vm.after_setup = [&] { start_relay(false); };
    }
    log_start(l.vm);
    r = run_vm(l.vm);
  } catch (const std::exception& e) {  // e.g. the kernel cannot be read: the monitor reports it
    r.reason = VmResult::Reason::Error;
    r.detail = e.what();
  }
  // The VM never got that far (no guest instruction ran): the relay still
  // passes on what is left for the monitor.
  if (!relay.joinable()) start_relay(false);
  // Let the relay pass on the guest's last words (the exit event) before
  // this process ends: EOF on hvc2 ends its loop once it has read them.
  log_end(r);
  if (l.relay.hvc2_vmm >= 0) ::shutdown(l.relay.hvc2_vmm, SHUT_WR);
  if (relay.joinable()) relay.join();
  if (l.result_fd >= 0) (void)write_all(l.result_fd, result_to_json(r));
  return r.reason == VmResult::Reason::Error ? kHvrunErrorStatus : 0;
}

}  // namespace
}  // namespace hvrun::vmm::tool

int main(int argc, char** argv) {
  using namespace hvrun::vmm::tool;
  // The name tools look for (pgrep -x hvrun-vmm, bench-vm.sh), whatever the file is called.
  ::prctl(PR_SET_NAME, "hvrun-vmm", 0, 0, 0);
  // Snapshot requests of the engine (launch.hpp) that come before their
  // handlers are in place must not end the VMM (their default action).
  for (int sig : {SIGRTMIN + 3, SIGRTMIN + 4, SIGRTMIN + 5, SIGRTMIN + 6}) ::signal(sig, SIG_IGN);
  // The level hvrun was given travels in HVRUN_LOG_LEVEL (util/log.hpp).
  hvrun::log::set_program("hvrun-vmm");
  hvrun::log::level_from_env();
  Args a;
  try {
    a = parse_args(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hvrun: vmm: %s\n", e.what());
    return hvrun::kHvrunErrorStatus;
  }
  // --debug and the debug level are one setting.
  if (a.debug) hvrun::log::set_level(hvrun::log::Level::debug);
  a.debug = hvrun::log::enabled(hvrun::log::Level::debug);
  if (a.help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  // A 9p share holds up to two fds per guest fid: let a guest with many
  // files open on its volumes use the hard limit, not the soft 1024.
  struct rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  try {
    if (a.launch_fd < 0) return run_command_line(a);
    // A jailed VMM ends here, without the exit handlers: glibc's and the
    // static destructors' work at exit (they open files) is not in the
    // main thread's seccomp filter, and nothing of theirs is needed.
    const int rc = run_launched(a.launch_fd);
    std::fflush(nullptr);
    ::_exit(rc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hvrun: %s\n", e.what());
    return hvrun::kHvrunErrorStatus;
  }
}
