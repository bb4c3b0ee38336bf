// New containers (run, create: the record made from RunOptions and an
// image) and exec into a running one. The monitor is engine/monitor.cpp;
// the commands on an existing record are engine/lifecycle.cpp.
#include "engine/engine.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "container/mounts.hpp"
#include "engine/events.hpp"
#include "engine/network.hpp"
#include "engine/pause.hpp"
#include "engine/relay.hpp"
#include "engine/restart_policy.hpp"
#include "engine/terminal.hpp"
#include "engine/userns.hpp"
#include "engine/vm_backend.hpp"
#include "engine/vm_control.hpp"
#include "engine/vm_exec.hpp"
#include "engine/volumes.hpp"
#include "image/flatten.hpp"
#include "image/store.hpp"
#include "net/ipam.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"
#include "util/signals.hpp"

namespace hvrun::engine {

namespace {

// The record of a new container (run and create): the image resolved, the
// spec built, the record made and its network attached. Returns the
// record's lock, held.
FileLock make_record(const std::string& store_root, const RunOptions& opts, Records& rec, ContainerConfig& cfg) {
  std::optional<VmAssets> vm;
  if (opts.mode == Mode::Vm)
    for (auto [flag, value] : {std::pair{"--pid", &opts.pid}, {"--ipc", &opts.ipc}})
      if (*value == "host") throw Error(std::string(flag) + " host is not supported with --vm: the guest has its own kernel");
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
  cfg.labels = parse_labels(opts.labels);
  // Docker's: the image's labels, unless a --label gives the key.
  for (const auto& kv : img.config.labels) cfg.labels.insert(kv);
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
  std::optional<FileLock> volumes_held = resolve_named_volumes(store_root, cfg, img.config.volumes);
  try {
    FileLock lock = rec.create(cfg);
    HVRUN_DEBUG("engine", "record created: ", cfg.id, cfg.name.empty() ? "" : " (" + cfg.name + ")", " in ", rec.dir(cfg.id));
    attach_record_network(store_root, rec, cfg);
    try {
      grant_userns_access(rec, cfg);
    } catch (...) {
      rec.remove(cfg.id, cfg.name);
      throw;
    }
    record_event(rec.base(), "create", cfg.id, cfg.name, cfg.image, cfg.owner_uid);
    return lock;
  } catch (...) {
    // No record (a bad flag, a taken name): the volumes made for it go too.
    volumes_held.reset();
    remove_anonymous_volumes(store_root, cfg);
    throw;
  }
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
  UniqueFd pidfd = open_pidfd(h.pid);
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
