// hvrun-guest-init: PID 1 of the microVM. Mounts the basics and the two
// disks, runs the workload of /spec.json (contract/guest_spec.hpp) with the same container stack as the
// host, forwards stdio over the virtio consoles, reports the exit status on
// the control console, and resets the VM (reboot=k: i8042 reset). Any fatal
// error: one line on the console and hvc1, exit code 125 on hvc2, reset.
#include <fcntl.h>
#include <poll.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "container/runtime.hpp"
#include "contract/control.hpp"
#include "contract/guest_spec.hpp"
#include "contract/plan.hpp"
#include "guest-init/exec.hpp"
#include "guest-init/freeze.hpp"
#include "guest-init/net.hpp"
#include "guest-init/plan.hpp"
#include "guest-init/restore.hpp"
#include "guest-init/template.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace hvrun::guestinit {
namespace {

int g_stderr_console = -1;  // hvc1 once open
int g_control = -1;         // hvc2 once open


[[noreturn]] void reset_vm() {
  ::sync();
  ::reboot(RB_AUTOBOOT);
  // Should not return; if it does, PID 1 exiting panics (panic= reboots).
  ::_exit(kHvrunErrorStatus);
}

void drain(int fd) {
  if (fd >= 0) ::tcdrain(fd);
}

[[noreturn]] void fatal(const std::string& msg) {
  std::string line = "hvrun-guest-init: " + msg + "\n";
  write_all(2, line);
  write_all(g_stderr_console, line);
  write_all(g_control, contract::encode(contract::guest_error(msg)));
  drain(g_stderr_console);
  drain(g_control);
  reset_vm();
}

void mark_boot() {
  // Tells the VMM's boot timer that userspace is up. Not fatal elsewhere (QEMU).
  if (::ioperm(contract::kBootTimerPort, 1, 1) == 0) ::outb(1, contract::kBootTimerPort);
}

void do_mount(const MountStep& m) {
  mkdir_p(m.target);
  if (::mount(m.source.c_str(), m.target.c_str(), m.fstype.c_str(), m.flags,
              m.data.empty() ? nullptr : m.data.c_str()) != 0)
    throw_sys("mount " + m.fstype + " " + m.source + " on", m.target);
}

UniqueFd open_console(const std::string& path) {
  int fd = -1;
  for (int i = 0; i < 100 && fd < 0; ++i) {  // devices may still be probing: wait up to 1 s
    fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) ::usleep(10000);
    else if (fd < 0) break;
  }
  if (fd < 0) throw_sys("open", path);
  termios t{};
  if (::tcgetattr(fd, &t) == 0) {  // raw bytes, no echo, no \n -> \r\n
    ::cfmakeraw(&t);
    ::tcsetattr(fd, TCSANOW, &t);
  }
  return UniqueFd(fd);
}

// Copies what is readable on `from` to `to`; false on EOF or error.
bool pump(int from, int to) {
  char buf[16384];
  ssize_t n = ::read(from, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  write_all(to, buf, static_cast<size_t>(n));
  return true;
}

// The initramfs root cannot be pivot_root'ed away (EINVAL), which the
// container runtime needs: move onto a tmpfs first, as switch_root does.
void leave_initramfs(const std::string& newroot) {
  mkdir_p(newroot);
  check_sys(::mount("guestroot", newroot.c_str(), "tmpfs", MS_NOSUID, "mode=0755"), "mount tmpfs on", newroot);
  check_sys(::chdir(newroot.c_str()), "chdir", newroot);
  check_sys(::mount(".", "/", nullptr, MS_MOVE, nullptr), "move the new root onto /", newroot);
  check_sys(::chroot("."), "chroot", newroot);
  check_sys(::chdir("/"), "chdir /");
}

int run() {
  Layout layout;
  std::string spec_text = read_file(layout.spec_path);  // before leaving the initramfs
  leave_initramfs("/newroot");
  for (const auto& m : early_mounts()) do_mount(m);
  // The consoles stay open for the life of PID 1 (fatal() reports on them
  // after an exception has unwound this function).
  static UniqueFd stdio, errc, control;
  stdio = open_console(layout.stdio_dev);
  errc = open_console(layout.stderr_dev);
  g_stderr_console = errc.get();
  control = open_console(layout.control_dev);
  g_control = control.get();
  // A template VM is saved here; each restore of it goes on with its spec.
  const bool from_template = contract::is_template_spec(spec_text);
  if (from_template) spec_text = wait_as_template(control.get(), {layout.image_dev, layout.rw_dev});
  // The consoles are raw from here on: bytes the host sends on hvc0 before
  // this line could be echoed back by the tty (the host waits for it).
  write_all(control.get(), contract::encode(contract::ReadyEvent{}));

  const auto guest = contract::parse_guest_spec(spec_text);
  auto spec = plan_spec(guest, layout);
  HVRUN_DEBUG("guest-init", "spec read: container ", spec.id.substr(0, 12), ", command ",
              spec.args.empty() ? std::string("(none)") : spec.args[0], ", tty ", spec.tty, ", ", guest.volumes.size(),
              " volume(s), network ", guest.has_network ? guest.network.address : std::string("none"));
  if (guest.has_network) configure_guest_net(guest.network, 2000, from_template);
  for (const auto& n : guest.more_networks) configure_guest_net(n, 2000, false);
  for (const auto& m : disk_mounts(layout)) do_mount(m);
  for (const auto& m : share_mounts(guest, layout)) do_mount(m);
  mkdir_p(spec.upperdir);
  mkdir_p(spec.workdir);
  HVRUN_DEBUG("guest-init", "disks and shares mounted");

  Pipe in, out, err;
  container::Stdio io;
  if (!spec.tty) {
    in = Pipe::make();
    out = Pipe::make();
    err = Pipe::make();
    io = {in.read.get(), out.write.get(), err.write.get()};
  }
  auto c = container::Container::start(spec, io);
  // The host may freeze the writable disk's file system for a consistent
  // copy (hvrun commit of a running VM). Thawed, at the latest, when this
  // goes out of scope, before the container is torn down (an exception on
  // its way to fatal(), whose reset syncs: that would wait forever on a
  // frozen file system).
  FsFreeze rw_freeze(layout.rw_dir);
  HVRUN_DEBUG("guest-init", "container started: pid ", c.pid());
  in.read.reset();
  out.write.reset();
  err.write.reset();
  UniqueFd pidfd = open_pidfd(c.pid());
  // hvrun exec: processes started in the running container on the host's request.
  ExecSessions sessions(spec, c.pid(), control.get());

  // Forward until the workload is gone and its output drained.
  const int pty = spec.tty ? c.pty_master() : -1;  // owned by the Container (set_pty_size uses it)
  const int workload_in = spec.tty ? pty : in.write.get();
  // Input to the workload is written non-blocking from a buffer: a workload
  // that does not read its stdin must not stop its output being forwarded.
  set_nonblock(workload_in);
  std::string pending;
  bool close_stdin_when_flushed = false;
  bool out_open = true, err_open = !spec.tty, stdin_open = true, exited = false;
  contract::LineBuffer ctl_lines;
  auto flush_stdin = [&] {
    while (!pending.empty()) {
      ssize_t w = ::write(workload_in, pending.data(), pending.size());
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EAGAIN) return;
      if (w < 0) {  // the workload closed its stdin: drop what it will never read
        pending.clear();
        stdin_open = false;
        break;
      }
      pending.erase(0, static_cast<size_t>(w));
    }
    if (close_stdin_when_flushed) {
      in.write.reset();
      stdin_open = false;
    }
  };
  while (out_open || err_open) {
    std::vector<pollfd> p = {{stdio.get(), POLLIN, 0},
                             {spec.tty ? pty : out.read.get(), POLLIN, 0},
                             {err.read.get(), POLLIN, 0},
                             {control.get(), POLLIN, 0},
                             {pidfd.get(), POLLIN, 0},
                             {workload_in, POLLOUT, 0}};
    constexpr size_t kSessionsFrom = 6;
    sessions.poll_fds(p);
    if (!stdin_open || !pending.empty()) p[0].fd = -1;
    if (!out_open) p[1].fd = -1;
    if (!err_open) p[2].fd = -1;
    if (exited) p[4].fd = -1;
    if (pending.empty() || (in.write.get() < 0 && !spec.tty)) p[5].fd = -1;
    // Once the workload exited, only drain: its pipes may be held by nobody
    // else (its pid namespace is gone), a pty master never sees EOF.
    int rc = ::poll(p.data(), p.size(), exited ? 50 : sessions.timeout_ms());
    if (rc < 0 && errno == EINTR) continue;
    check_sys(rc, "poll");
    sessions.dispatch(p, kSessionsFrom);
    if (rc == 0 && exited) break;  // exited and nothing more to drain
    if (p[1].revents) out_open = pump(p[1].fd, stdio.get());
    if (p[2].revents) err_open = pump(p[2].fd, errc.get());
    if (p[0].revents) {
      char buf[16384];
      ssize_t n = ::read(stdio.get(), buf, sizeof buf);
      if (n > 0) pending.append(buf, static_cast<size_t>(n));
      else if (n == 0 || errno != EINTR) stdin_open = false;
    }
    if (p[5].revents || !pending.empty()) flush_stdin();
    if (p[3].revents & POLLIN) {
      char buf[512];
      ssize_t n = ::read(control.get(), buf, sizeof buf);
      if (n > 0) ctl_lines.append({buf, static_cast<size_t>(n)});
      while (auto line = ctl_lines.next()) {
        std::string why;
        auto msg = contract::decode_host_message(*line, &why);
        if (!msg) {
          write_all(errc.get(), "hvrun-guest-init: ignored control message: " + why + "\n");
          continue;
        }
        try {
          if (auto* s = std::get_if<contract::SignalMsg>(&*msg)) c.kill(s->signal);
          if (auto* w = std::get_if<contract::WinsizeMsg>(&*msg); w && spec.tty) c.set_pty_size(w->rows, w->cols);
        } catch (const Error& e) {  // e.g. the workload just exited: not fatal
          write_all(errc.get(), std::string("hvrun-guest-init: control message failed: ") + e.what() + "\n");
        }
        if (auto* f = std::get_if<contract::FreezeMsg>(&*msg)) {
          // Once the workload ended, the VM is on its way down: no new freeze.
          auto answer = exited && f->freeze ? contract::FrozenEvent{false, "the workload has ended"}
                                            : rw_freeze.apply(*f);
          HVRUN_DEBUG("guest-init", f->freeze ? "freeze " : "thaw ", layout.rw_dir, ": ",
                      answer.error.empty() ? (answer.frozen ? "frozen" : "thawed") : answer.error);
          write_all(control.get(), contract::encode(answer));
        }
        if (auto* r = std::get_if<contract::RestoredMsg>(&*msg)) {
          std::string failed = apply_restore(*r);
          if (r->network) {
            try {
              readdress_guest_net(*r->network);
            } catch (const std::exception& e) {
              failed += (failed.empty() ? "" : "; ") + std::string(e.what());
            }
          }
          HVRUN_DEBUG("guest-init", "restored from a snapshot: clock set, RNG reseeded",
                      r->network ? ", card re-addressed to " + r->network->address : std::string(),
                      failed.empty() ? "" : ": " + failed);
          if (!failed.empty()) write_all(errc.get(), "hvrun-guest-init: after the restore: " + failed + "\n");
        }
        if (contract::exec_session(*msg)) {
          if (exited && std::holds_alternative<contract::ExecStartMsg>(*msg)) {
            write_all(control.get(), contract::encode(contract::ExecExitEvent{
                                         *contract::exec_session(*msg), kHvrunErrorStatus, 0, "the workload has ended"}));
          } else {
            sessions.handle(*msg);
          }
        }
        if (std::holds_alternative<contract::StdinEofMsg>(*msg) && !spec.tty) {
          close_stdin_when_flushed = true;
          flush_stdin();
        }
      }
    }
    if (p[4].revents) exited = true;
    if (pidfd.get() < 0 && !out_open && !err_open) exited = true;
    // The workload is gone: nothing may stay frozen behind it (the
    // container's teardown and the final sync would wait on it).
    if (exited) rw_freeze.thaw_if_frozen();
  }
  rw_freeze.thaw_if_frozen();
  sessions.finish_all();  // their processes died with the workload's pid namespace
  auto st = c.wait();
  HVRUN_DEBUG("guest-init", "container exited: status ", st.exit_code(), st.oom_killed ? " (OOM killed)" : "");
  write_all(control.get(), contract::encode(contract::ExitEvent{st.code, st.signal, st.oom_killed, ""}));
  drain(stdio.get());
  drain(errc.get());
  drain(control.get());
  return 0;
}

}  // namespace
}  // namespace hvrun::guestinit

int main() {
  using namespace hvrun::guestinit;
  mark_boot();
  ::signal(SIGPIPE, SIG_IGN);
  // hvrun's level, from the kernel command line (engine/vm_backend.cpp).
  hvrun::log::set_program("hvrun-guest-init");
  hvrun::log::level_from_env();
  try {
    run();
  } catch (const std::exception& e) {
    fatal(e.what());
  }
  reset_vm();
}
