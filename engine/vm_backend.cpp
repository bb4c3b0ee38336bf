#include "engine/vm_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "contract/control.hpp"
#include "contract/guest_spec.hpp"
#include "contract/plan.hpp"
#include "engine/network.hpp"
#include "engine/vm_control.hpp"
#include "engine/vm_files.hpp"
#include "engine/vmm_jail.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"
#include "util/netif.hpp"
#include "util/self_exe.hpp"
#include "vmm/kvm_kind.hpp"
#include "vmm/tap.hpp"
#include "vmm/tool/launch.hpp"
#include "vmm/tool/relay.hpp"
#include "vmm/vm.hpp"

namespace hvrun::engine {

namespace {

constexpr uint64_t kMiB = 1ull << 20;

std::string read_available(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    struct pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

// In the forked child, before exec: closes every fd but `keep` (sorted,
// may hold -1 and duplicates) and clears FD_CLOEXEC on those. Only
// async-signal-safe calls: the monitor may have other threads.
void keep_only_fds(const std::vector<int>& keep) {
  unsigned next = 0;
  for (int fd : keep) {
    if (fd < 0 || unsigned(fd) < next) continue;
    if (unsigned(fd) > next) ::close_range(next, unsigned(fd) - 1, 0);
    next = unsigned(fd) + 1;
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  ::close_range(next, ~0u, 0);
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Test hook: HVRUN_VM_TEST_NETCFG holds a NetConfig as JSON; a VM started
// with it gets net "bridge" with that config, as if the engine had filled it
// from a network lease (lets the VM network be tested on its own).
void apply_test_netcfg(container::RunSpec& spec) {
  const char* e = std::getenv("HVRUN_VM_TEST_NETCFG");
  if (!e || !*e) return;
  auto j = nlohmann::json::parse(e, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error("HVRUN_VM_TEST_NETCFG is not a JSON object");
  try {
    spec.netcfg = j.get<container::NetConfig>();
  } catch (const nlohmann::json::exception& ex) {
    throw Error(std::string("HVRUN_VM_TEST_NETCFG is not a NetConfig: ") + ex.what());
  }
  spec.net = container::NetMode::Bridge;
}

// The template VM's card (engine/vm_template.hpp); each run's guest-init
// gives it the run's MAC.
constexpr const char* kTemplateMac = "02:00:00:00:00:01";

// A MAC for a guest whose network config has none: locally administered,
// unicast (02:...), from the container id so that it is stable.
std::string default_mac(const std::string& id) {
  unsigned char b[5] = {};
  for (size_t i = 0; i < 5 && 2 * i + 1 < id.size(); ++i)
    b[i] = static_cast<unsigned char>(std::stoul(id.substr(2 * i, 2), nullptr, 16));
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4]);
  return buf;
}

// Opens the VM's tap ("tap" + 12 chars of the id) and wires it as the
// network wiring does a veth's host end: MTU, a port of spec.netcfg.bridge, up. Fills in a MAC if there is none.
UniqueFd open_bridge_tap(container::RunSpec& spec) {
  auto& n = spec.netcfg;
  if (n.bridge.empty()) throw Error("--net bridge with --vm: the network config names no bridge to join");
  bool hex_id = spec.id.size() >= 12 && spec.id.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (n.mac.empty()) n.mac = default_mac(hex_id ? spec.id : std::string());
  unsigned char mac[6];
  if (!parse_mac(n.mac, mac)) throw Error("--net bridge with --vm: bad MAC address '" + n.mac + "'");
  std::string ifname;
  UniqueFd tap = vmm::open_tap(hex_id ? "tap" + spec.id.substr(0, 12) : std::string("hvtap%d"), &ifname);
  wire_vm_tap(ifname, n);  // as a veth's host end (engine/network.hpp)
  return tap;
}

class VmBackend final : public Backend {
 public:
  explicit VmBackend(VmAssets a) : assets_(std::move(a)) {}
  ~VmBackend() override {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    remove_vmm_cgroup();
  }

  void start(const container::RunSpec& host_spec, const container::Stdio& stdio,
             std::optional<WinSize> ws) override {
    if (host_spec.net == container::NetMode::Host) throw Error("--net host is not supported with --vm: the guest has its own kernel");
    container::RunSpec spec = host_spec;
    apply_test_netcfg(spec);
    if (ws) {
      spec.tty_rows = ws->rows;
      spec.tty_cols = ws->cols;
    }
    rw_disk_ = assets_.work_dir + "/" + kVmRwDisk;
    const std::string& rw_disk = rw_disk_;
    std::string initrd = assets_.work_dir + "/initramfs.cpio";
    console_log_ = assets_.work_dir + "/console.log";
    const bool restoring = !assets_.restore_dir.empty();
    const bool from_template = !restoring && !assets_.template_dir.empty();
    const bool making_template = assets_.make_template;
    std::string image_disk = assets_.image_disk;
    if (from_template || making_template)
      if (std::string why = vm_template_refusal(spec, assets_.more_networks.size()); !why.empty())
        throw Error("a template cannot carry this VM: " + why);
    if (!assets_.more_networks.empty()) {
      if (spec.net != container::NetMode::Bridge)
        throw Error(std::string("a microVM without a network of its own cannot have more (it was created with --network ") +
                    container::to_string(spec.net) + ")");
      if (restoring)
        throw Error("a microVM restored from a snapshot has the snapshot's one network card: disconnect it from " +
                    assets_.more_networks.front().network + " first");
    }
    if (restoring) {
      // The clone's own copy of the snapshot's disk (holes kept).
      ::unlink(rw_disk.c_str());
      copy_file_sparse(assets_.restore_dir + "/" + kSnapshotDiskFile, rw_disk);
    } else if (making_template) {
      // Placeholders: the guest's kernel only probes them (their size
      // changes under it when a run restores the template).
      image_disk = assets_.work_dir + "/image-placeholder";
      for (const std::string& p : {image_disk, rw_disk}) {
        UniqueFd f(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!f || ::ftruncate(f.get(), 1 << 20) < 0) throw_sys("create the placeholder disk", p);
      }
    } else if (!assets_.keep_rw_disk) {
      make_rw_disk(rw_disk, assets_.blank_rw_disk);
    }
    // -v HOST:CTR[:ro]: each volume is a virtio-9p share of HOST (live, like
    // a bind mount; the VMM refuses writes to a :ro one), tagged
    // contract::volume_tag(i); guest-init mounts it and binds it at CTR.
    // A single file travels as a share of a directory of its own in which
    // hvrun-vmm, in a private mount namespace, binds the file onto a
    // placeholder: the guest sees that file and nothing beside it.
    std::vector<vmm::ShareConfig> shares;
    std::vector<vmm::tool::FileBind> file_binds;
    std::vector<contract::Volume> volumes;
    for (size_t i = 0; i < spec.mounts.size(); ++i) {
      const auto& m = spec.mounts[i];
      if (i >= contract::kMaxVolumes)
        throw Error("too many volumes for a microVM (at most " + std::to_string(contract::kMaxVolumes) + ")");
      std::error_code ec;
      const auto st = std::filesystem::status(m.source, ec);  // follows links, as a bind mount does
      if (std::filesystem::is_directory(st)) {
        shares.push_back({m.source, contract::volume_tag(i), m.readonly});
        volumes.push_back({m.target, m.readonly, false});
        continue;
      }
      if (!std::filesystem::exists(st))
        throw Error("-v " + m.source + ":" + m.target + ": " + (ec ? ec.message() : std::string("no such file")));
      // A fifo, socket or device node cannot work through 9p (the VMM never
      // opens devices; a socket cannot be connected across the VM boundary).
      if (!std::filesystem::is_regular_file(st))
        throw Error("-v " + m.source + ":" + m.target +
                    ": with --vm a volume must be a directory or a regular file (this is a fifo, socket or device)");
      const std::string dir = assets_.work_dir + "/volfile" + std::to_string(i);
      std::filesystem::remove_all(dir, ec);
      if (::mkdir(dir.c_str(), 0755) < 0) throw_sys("mkdir", dir);
      const std::string placeholder = dir + "/" + contract::kVolumeFileName;
      UniqueFd f(::open(placeholder.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (!f) throw_sys("create", placeholder);
      shares.push_back({dir, contract::volume_tag(i), m.readonly});
      file_binds.push_back({m.source, placeholder, m.readonly});
      volumes.push_back({m.target, m.readonly, true});
    }
    UniqueFd tap;
    std::vector<UniqueFd> more_taps;  // one per network in assets_.more_networks, in that order
    std::string guest_spec;
    std::optional<contract::GuestNetwork> restored_network;  // a clone's card's new plan
    if (making_template && spec.net == container::NetMode::Bridge) {
      // A template for VMs with a network: the same devices, on stand-ins.
      // Its guest only probes them (guest-init configures the card and
      // mounts the hosts share once a run hands it the spec): a tap wired
      // to nothing, and the work directory as the hosts share.
      shares.push_back({assets_.work_dir, contract::kHostsShareTag, true});
      tap = vmm::open_tap("hvtpl%d");
      spec.netcfg.mac = kTemplateMac;
    } else {
      // The live /etc/hosts (engine/network.hpp): its directory, read-only.
      if (!spec.netcfg.hosts_path.empty())
        shares.push_back({std::filesystem::path(spec.netcfg.hosts_path).parent_path().string(),
                          contract::kHostsShareTag, true});
      // --net bridge: a virtio-net card on a tap that is a port of the
      // network's bridge. The tap is not persistent: it goes when the VMM
      // (the only holder of its fd once this function returns) ends.
      if (spec.net == container::NetMode::Bridge) tap = open_bridge_tap(spec);
      contract::GuestSpec gs = contract::make_guest_spec(spec, std::move(volumes));
      // hvrun network connect: a tap more on that network's bridge.
      for (const container::NetConfig& n : assets_.more_networks) {
        std::string ifname;
        more_taps.push_back(vmm::open_tap("hvtap%d", &ifname));
        wire_vm_tap(ifname, n);
        gs.more_networks.push_back({n.mac, n.ifname, n.address, n.prefix, "", n.mtu});
      }
      guest_spec = contract::to_json(gs);
      if (gs.has_network) restored_network = gs.network;
    }
    if (!restoring && !from_template)
      make_initramfs(initrd, assets_.guest_init, making_template ? std::string(contract::kTemplateSpecJson) : guest_spec);

    const std::string vmm_path = assets_.vmm.empty() ? require_vmm() : assets_.vmm;
    vmm::tool::Launch launch;
    vmm::VmConfig& cfg = launch.vm;
    if (restoring || from_template) {
      // Memory, vCPUs and every device's state are the snapshot's.
      cfg.restore_from = (restoring ? assets_.restore_dir : assets_.template_dir) + "/" + kSnapshotMemoryFile;
    } else {
      cfg.kernel = assets_.kernel;
      cfg.initrd = initrd;
    }
    cfg.cmdline = contract::kKernelCmdline;
    // guest-init logs at this process's level: the kernel hands unknown
    // NAME=value words to init as its environment. Its lines go to the
    // guest console (console.log beside the container's record).
    if (log::level() != log::Level::warn) cfg.cmdline += std::string(" ") + log::kEnvVar + "=" + log::level_name(log::level());
    cfg.mem_bytes = vm_guest_memory(spec.memory_bytes);
    cfg.vcpus = spec.cpus > 0 ? unsigned(std::ceil(spec.cpus)) : 1;
    cfg.debug = assets_.debug || log::enabled(log::Level::debug);
    cfg.disks.resize(contract::kDiskCount);
    cfg.disks[unsigned(contract::Disk::Image)] = {image_disk, true};
    cfg.snapshot_on_guest_request = making_template;
    cfg.disks[unsigned(contract::Disk::Writable)] = {rw_disk, false};
    cfg.shares = std::move(shares);
    if (tap) cfg.nics.push_back({tap.get(), spec.netcfg.mac});
    for (size_t i = 0; i < more_taps.size(); ++i) cfg.nics.push_back({more_taps[i].get(), assets_.more_networks[i].mac});

    // Wiring (hvrun-vmm's relay thread passes lines; see vmm/tool/relay.hpp):
    //   hvc0 in  <- gate <- stdin (or the host side of the tty)   [only after "ready"]
    //   hvc0 out -> stdout (or the tty)     hvc1 out -> stderr
    //   hvc2     <-> relay <-> control_ (this monitor: signals, winsize, exit event)
    int sv[2];
    check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    UniqueFd control(sv[0]);
    UniqueFd control_child(sv[1]);
    check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    UniqueFd hvc2_relay(sv[0]), hvc2_vmm(sv[1]);
    check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    UniqueFd hvc0_gate(sv[0]), hvc0_vmm_in(sv[1]);
    UniqueFd tty_vmm;
    int input = -1;  // what feeds hvc0 once the guest is ready
    cfg.consoles.resize(contract::kConsoleCount);
    auto& con_stdio = cfg.consoles[unsigned(contract::Console::Stdio)];
    auto& con_stderr = cfg.consoles[unsigned(contract::Console::Stderr)];
    cfg.consoles[unsigned(contract::Console::Control)] = {hvc2_vmm.get(), hvc2_vmm.get()};
    if (spec.tty) {
      check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
      tty_.reset(sv[0]);
      tty_vmm.reset(sv[1]);
      input = tty_vmm.get();
      con_stdio = {hvc0_vmm_in.get(), tty_vmm.get()};
      con_stderr = {-1, tty_vmm.get()};
    } else {
      input = stdio.in;
      con_stdio = {hvc0_vmm_in.get(), stdio.out};
      con_stderr = {-1, stdio.err};
    }
    UniqueFd console(::open(console_log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!console) throw_sys("create", console_log_);
    cfg.serial_out_fd = console.get();
    // The file a snapshot of this VM is written into: unnamed (O_TMPFILE)
    // in the snapshot store until a snapshot links it into its directory,
    // so that nothing is left behind by a VM that takes none.
    snapshot_why_not_ = assets_.snapshot_store.empty() ? "this VM's monitor keeps no snapshots" : "";
    if (!assets_.more_networks.empty())  // its clones would have one card, and its addresses
      snapshot_why_not_ = "a microVM connected to more than its first network (" + assets_.more_networks.front().network +
                          ") cannot be snapshotted yet";
    if (snapshot_why_not_.empty()) {
      snapshot_file_.reset(::open(assets_.snapshot_store.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
      if (!snapshot_file_)
        snapshot_why_not_ = "no snapshot file in " + assets_.snapshot_store + ": " + std::strerror(errno);
    }
    if (snapshot_file_) {
      snapshot_done_ = Pipe::make();
      cfg.snapshot_fd = snapshot_file_.get();
      cfg.snapshot_done_fd = snapshot_done_.write.get();
    }
    Pipe result = Pipe::make();
    launch.relay = {control_child.get(), hvc2_relay.get(), hvc2_vmm.get(), hvc0_gate.get(), input, spec.tty, restoring};
    launch.result_fd = result.write.get();
    launch.file_binds = std::move(file_binds);
    const VmmJailChoice jail = choose_vmm_jail();
    launch.jail = jail.config;
    if (jail.config.enabled)
      HVRUN_DEBUG("engine", "hvrun-vmm jails itself as ", jail.user, " (", jail.config.uid, ":", jail.config.gid, ")");
    else
      HVRUN_DEBUG("engine", "hvrun-vmm runs unjailed: ", jail.why_not);
    // Its own cgroup (engine/vmm_jail.hpp), joined before it execs.
    VmmCgroup vcg = make_vmm_cgroup(host_spec, cfg.mem_bytes, cfg.vcpus + unsigned(cfg.shares.size()) + 2);
    std::vector<int> join_fds;
    for (const auto& f : vcg.join) join_fds.push_back(f.fd.get());
    if (vcg.cgroup)
      HVRUN_DEBUG("engine", "hvrun-vmm runs in cgroup ", vcg.cgroup->path(), " (memory ", vcg.memory_max >> 20,
                  " MiB: guest RAM + ", kVmmOwnMemory >> 20, " MiB)");
    else
      HVRUN_DEBUG("engine", "hvrun-vmm runs without a cgroup of its own: ", vcg.why_not);
    // A jailed VMM starts in a PID namespace of its own, where getppid() is
    // 0: a pidfd of this monitor tells it whether the monitor still lives.
    UniqueFd monitor_pidfd;
    if (jail.config.enabled) {
      monitor_pidfd = open_pidfd(::getpid());
      launch.jail.monitor_pidfd = monitor_pidfd.get();  // -1 on a kernel without pidfds: getppid() then
    }

    // The launch config travels in a memfd (no size limit, nothing on disk).
    UniqueFd config(::memfd_create("hvrun-vmm-launch", MFD_CLOEXEC));
    if (!config) throw_sys("memfd_create for the VMM's launch config");
    (void)write_all(config.get(), vmm::tool::launch_to_json(launch));
    // Everything the child needs is made now: between fork and exec it may
    // only make async-signal-safe calls (the monitor may have threads).
    // Only what the VMM uses stays open: an inherited copy of the monitor's
    // stdin pipe (write end) would keep the guest's stdin from ever ending.
    std::vector<int> keep = {0, 1, 2, stdio.out, stdio.err, input, console.get(), result.write.get(),
                             control_child.get(), hvc2_relay.get(), hvc2_vmm.get(), hvc0_gate.get(),
                             hvc0_vmm_in.get(), tty_vmm.get(), tap.get(), config.get(), monitor_pidfd.get(),
                             snapshot_file_.get(), snapshot_done_.write.get()};
    for (const UniqueFd& t : more_taps) keep.push_back(t.get());
    std::sort(keep.begin(), keep.end());
    const std::string launch_fd = std::to_string(config.get());
    const char* argv[] = {vmm_path.c_str(), "--launch-fd", launch_fd.c_str(), nullptr};
    // If exec fails, the child says why on the result pipe: {"reason":3,"detail":"exec PATH failed: errno N"}.
    std::string detail = nlohmann::json("exec " + vmm_path + " failed: errno ").dump();  // quoted, escaped
    const std::string exec_failed_head = "{\"reason\":" + std::to_string(int(vmm::VmResult::Reason::Error)) +
                                         ",\"detail\":" + detail.substr(0, detail.size() - 1);
    detail = nlohmann::json("join the VMM's cgroup " + (vcg.cgroup ? vcg.cgroup->path() : std::string()) +
                            " failed: errno ").dump();
    const std::string join_failed_head = "{\"reason\":" + std::to_string(int(vmm::VmResult::Reason::Error)) +
                                         ",\"detail\":" + detail.substr(0, detail.size() - 1);
    // The signals hvrun-vmm forwards into the guest stay blocked across exec
    // so that none ends it before its handlers are in place.
    sigset_t blocked;
    vmm::tool::forwarded_signals(&blocked);
    const pid_t monitor = ::getpid();
    const int monitor_fd = monitor_pidfd.get();

    // A jailed VMM is PID 1 of a new PID namespace: it sees no other
    // process, and its /proc (vmm/jail.cpp) shows only itself. The raw
    // clone is a fork (no CLONE_VM) whose child only makes the same
    // async-signal-safe calls a forked one would.
    pid_t pid = -1;
    if (jail.config.enabled) {
      pid = pid_t(::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
      if (pid < 0) HVRUN_DEBUG("engine", "no PID namespace for hvrun-vmm (", std::strerror(errno), "): it shares hvrun's");
    }
    if (pid < 0) pid = ::fork();
    if (pid < 0) throw_sys("fork VMM");
    if (pid == 0) {
      // The VMM process. It dies with the monitor, like a container's init
      // (PDEATHSIG survives the exec: hvrun-vmm is not set-user-ID).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      if (monitor_fd >= 0) {
        struct pollfd p{monitor_fd, POLLIN, 0};
        if (::poll(&p, 1, 0) != 0) ::_exit(kHvrunErrorStatus);
      } else if (::getppid() != monitor) {
        ::_exit(kHvrunErrorStatus);
      }
      ::sigprocmask(SIG_SETMASK, &blocked, nullptr);
      const int result_fd = result.write.get();
      auto fail = [result_fd](const std::string& head, int err) {
        char digits[16];
        int n = 0;
        do {
          digits[sizeof digits - 1 - n++] = char('0' + err % 10);
          err /= 10;
        } while (err && n < 15);
        (void)!::write(result_fd, head.data(), head.size());
        (void)!::write(result_fd, digits + sizeof digits - n, size_t(n));
        (void)!::write(result_fd, "\"}", 2);
        ::_exit(127);
      };
      for (int fd : join_fds)
        if (::write(fd, "0", 1) != 1) fail(join_failed_head, errno);
      keep_only_fds(keep);
      ::execv(argv[0], const_cast<char* const*>(argv));
      fail(exec_failed_head, errno);
    }
    pid_ = pid;
    snapshot_done_.write.reset();  // the VMM's alone: its end reads EOF once the VMM is gone
    vmm_cgroup_ = std::move(vcg.cgroup);
    vmm_memory_max_ = vcg.memory_max;
    result_ = std::move(result.read);
    // The guest's control lines are read as they come (a thread): freeze
    // answers go to the control socket's clients, the rest waits for wait().
    control_ = std::make_unique<GuestChannel>(std::move(control));
    // A VM restored from a snapshot: its guest said "ready" before it was saved.
    if (restoring) control_->mark_ready();
    // Other hvrun processes (commit, export, diff of this running VM) ask
    // for a consistent disk here (engine/vm_control.hpp). Not fatal: the
    // VM runs without it, only those would fail.
    try {
      freeze_server_ = std::make_unique<FreezeServer>(vm_control_socket(assets_.work_dir), *control_, std::chrono::seconds(30),
                                                      [this](const std::string& dir, bool leave_running) {
                                                        return take_snapshot(dir, leave_running);
                                                      });
    } catch (const std::exception& e) {
      HVRUN_WARN("engine", "no control socket for this VM (commit of it while it runs will fail): ", e.what());
    }
    HVRUN_DEBUG("engine", "hvrun-vmm started: pid ", pid, " (", vmm_path, "), ", cfg.mem_bytes >> 20, " MiB, ", cfg.vcpus,
                " vCPU(s), ", cfg.shares.size(), " share(s), ", cfg.nics.size(), " network card(s); guest console: ", console_log_,
                restoring ? "; restored from " + assets_.restore_dir : std::string(),
                from_template ? "; restored from the template " + assets_.template_dir : std::string(),
                making_template ? "; a template VM" : std::string());
    if (restoring || from_template) {
      // The guest's clock stood still since the snapshot, and its RNG is
      // every clone's: guest-init sets the one and reseeds the other.
      struct timespec now{};
      ::clock_gettime(CLOCK_REALTIME, &now);
      // A clone's card gets its own address (a template's guest has not
      // configured its card yet: the spec below does that).
      (void)control_->send(contract::RestoredMsg{int64_t(now.tv_sec) * 1000000000 + now.tv_nsec,
                                                 random_bytes(contract::kRestoreSeedBytes),
                                                 restoring ? restored_network : std::nullopt});
    }
    if (from_template) {
      // What spec.json would have said, and the disks' sizes to wait for.
      contract::SpecMsg m{guest_spec, {}};
      for (const auto& d : cfg.disks) {
        struct stat st{};
        if (::stat(d.path.c_str(), &st) < 0) throw_sys("stat disk", d.path);
        m.disk_bytes.push_back(uint64_t(st.st_size) / 512 * 512);
      }
      (void)control_->send(m);
    }
    if (!snapshot_why_not_.empty()) HVRUN_DEBUG("engine", "no snapshots of this VM: ", snapshot_why_not_);
  }

  pid_t pid() const override { return pid_; }
  int pty_master() const override { return tty_.get(); }

  container::ExitStatus wait() override {
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0) {
      if (errno != EINTR) throw_sys("wait for the VMM");
    }
    reaped_ = true;
    const bool host_oom = vmm_cgroup_ && vmm_cgroup_->oom_killed();
    remove_vmm_cgroup();
    HVRUN_DEBUG("engine", "hvrun-vmm pid ", pid_, " ended: ",
                WIFSIGNALED(st) ? "signal " + std::to_string(WTERMSIG(st)) : "status " + std::to_string(WEXITSTATUS(st)));
    std::string res = read_available(result_.get());
    // The rest of the guest's lines first: exec sessions' last events reach
    // their clients through the server; then nothing is left to serve.
    std::string ctl = control_ ? control_->finish() : std::string();
    freeze_server_.reset();  // the socket goes
    // The last exit event guest-init sent wins.
    container::ExitStatus es;
    bool have = false;
    std::string guest_error;
    contract::LineBuffer lines;
    lines.append(ctl);
    while (auto line = lines.next()) {
      auto ev = contract::decode_guest_event(*line);
      const auto* exit = ev ? std::get_if<contract::ExitEvent>(&*ev) : nullptr;
      if (!exit) continue;
      es.code = exit->code;
      es.signal = exit->signal;
      es.oom_killed = exit->oom;
      guest_error = exit->error;
      have = true;
    }
    if (!guest_error.empty()) say("in the VM: " + guest_error);
    if (have) return es;
    if (assets_.make_template) return finish_template(st);
    if (snapshotted_) {
      std::fprintf(stderr, "hvrun: the VM was saved by hvrun snapshot create and stopped (hvrun snapshot restore goes on from there)\n");
      return es;  // status 0: it was stopped on purpose, as a checkpoint stops a container
    }
    // No word from the guest: the VMM failed or was killed.
    auto j = nlohmann::json::parse(res, nullptr, false);
    std::string detail = j.is_object() ? j.value("detail", "") : "";
    if (WIFSIGNALED(st)) {
      if (WTERMSIG(st) == SIGSYS)
        say("the VMM (pid " + std::to_string(pid_) + ") was killed by its seccomp filter (SIGSYS): it made a syscall its "
            "jail forbids (the kernel log names it; HVRUN_VMM_JAIL=off runs the VMM unjailed)");
      if (WTERMSIG(st) == SIGKILL && host_oom)
        say("the VMM (pid " + std::to_string(pid_) + ") was killed by the host's OOM killer: its cgroup's memory limit is " +
            std::to_string(vmm_memory_max_ >> 20) + " MiB (guest RAM + " + std::to_string(kVmmOwnMemory >> 20) +
            " MiB for the VMM itself)");
      es.signal = WTERMSIG(st);
      return es;
    }
    say("the VM ended without an exit status from the guest" + (detail.empty() ? "" : ": " + detail) +
        " (guest console: " + console_log_ + ")");
    es.code = kHvrunErrorStatus;
    return es;
  }

  std::string end_error() const override { return end_error_; }

  void kill(int sig) override {
    if (pid_ <= 0 || reaped_) return;
    if (sig == SIGKILL) {
      ::kill(pid_, SIGKILL);  // a VM killed hard is a VMM killed hard
      return;
    }
    if (control_) (void)control_->send(contract::SignalMsg{sig});
  }

  void resize(WinSize ws) override {
    if (pid_ <= 0 || reaped_ || !ws.rows || !ws.cols) return;
    if (control_) (void)control_->send(contract::WinsizeMsg{ws.rows, ws.cols});
  }

 private:
  // The control socket's "snapshot DIR" (a FreezeServer thread): asks the
  // VMM for a snapshot and a stop (SIGRTMIN+4; vmm/tool/launch.hpp), waits
  // for its word, then links the memory file into DIR and copies the
  // writable disk beside it: once the VMM has written the snapshot, no vCPU
  // runs again, so the disk is the one the memory expects. leave_running:
  // a held snapshot instead (SIGRTMIN+5): the vCPUs wait while the disk is
  // copied, then SIGRTMIN+6 lets them go on. The memory file is then the
  // snapshot's for good: this VM takes no other (each run has one file).
  std::string take_snapshot(const std::string& dir, bool leave_running) {
    if (!snapshot_file_) return "error: " + snapshot_why_not_;
    if (snapshot_taken_)
      return left_running_ ? "error: this VM's snapshot was taken already (one per run: restore a clone and snapshot that)"
                          : "error: a snapshot of this VM was taken already (it is stopping)";
    if (pid_ <= 0 || reaped_ || ::kill(pid_, leave_running ? SIGRTMIN + 5 : SIGRTMIN + 4) < 0)
      return "error: the VM is not running";
    struct Release {  // a held VM goes on, whatever happens here
      pid_t pid;
      bool on;
      ~Release() {
        if (on) ::kill(pid, SIGRTMIN + 6);
      }
    } release{pid_, leave_running};
    std::string line;
    const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (line.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
      if (left <= 0) return "error: the VMM did not write the snapshot within 5 minutes";
      struct pollfd p{snapshot_done_.read.get(), POLLIN, 0};
      int rc = ::poll(&p, 1, int(left));
      if (rc < 0 && errno == EINTR) continue;
      char buf[512];
      ssize_t n = rc > 0 ? ::read(p.fd, buf, sizeof buf) : 0;
      if (n < 0 && errno == EINTR) continue;
      if (rc > 0 && n <= 0) return "error: the VMM ended before it wrote the snapshot";
      line.append(buf, size_t(n));
    }
    line.resize(line.find('\n'));
    if (line.rfind("snapshot written", 0) != 0) return "error: " + line;
    snapshot_taken_ = true;
    HVRUN_DEBUG("engine", "hvrun-vmm: ", line);
    const auto copy_start = std::chrono::steady_clock::now();
    try {
      copy_file_sparse(rw_disk_, dir + "/" + kSnapshotDiskFile);
      // A held VM goes on by itself after 60 s: a copy slower than that
      // may hold writes the memory does not expect.
      if (leave_running && std::chrono::steady_clock::now() - copy_start > std::chrono::seconds(50))
        throw Error("copying the VM's disk took longer than the VM waits for it (60 s)");
      const std::string mem = dir + "/" + kSnapshotMemoryFile;
      const std::string self = "/proc/self/fd/" + std::to_string(snapshot_file_.get());
      if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, mem.c_str(), AT_SYMLINK_FOLLOW) < 0) throw_sys("link the snapshot as", mem);
    } catch (const std::exception& e) {
      return std::string("error: ") + e.what();
    }
    (leave_running ? left_running_ : snapshotted_) = true;
    return "snapshotted";
  }

  // A template VM has ended: saved (its VMM's word on the done pipe says
  // "snapshot written") and linked into template_out, or not (why on stderr).
  container::ExitStatus finish_template(int wait_status) {
    container::ExitStatus es;
    std::string said = read_available(snapshot_done_.read.get());
    said = said.substr(0, said.find('\n'));
    std::string why;
    if (said.rfind("snapshot written", 0) != 0) {
      why = said.empty() ? "the VM ended before it was saved (status " + std::to_string(wait_status) + "; guest console: " +
                               console_log_ + ")"
                         : said;
    } else {
      const std::string mem = assets_.template_out + "/" + kSnapshotMemoryFile;
      const std::string self = "/proc/self/fd/" + std::to_string(snapshot_file_.get());
      if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, mem.c_str(), AT_SYMLINK_FOLLOW) < 0)
        why = "link the template as " + mem + ": " + std::strerror(errno);
    }
    if (!why.empty()) {
      // The run boots instead; --debug says why (vm_template.cpp reads it).
      HVRUN_DEBUG("engine", "no template VM: ", why);
      try {
        write_file_atomic(assets_.template_out + "/" + kTemplateFailureFile, why, 0600);
      } catch (const std::exception&) {
      }
      es.code = kHvrunErrorStatus;
    }
    return es;
  }

  void remove_vmm_cgroup() noexcept {
    if (!vmm_cgroup_) return;
    try {
      vmm_cgroup_->destroy();
    } catch (const std::exception& e) {
      HVRUN_WARN("engine", "removing the VMM's cgroup: ", e.what());
    }
    vmm_cgroup_.reset();
  }

  VmAssets assets_;
  std::unique_ptr<container::Cgroup> vmm_cgroup_;  // engine/vmm_jail.hpp
  int64_t vmm_memory_max_ = 0;
  pid_t pid_ = -1;
  std::atomic<bool> reaped_{false};  // read by take_snapshot (a FreezeServer thread)
  UniqueFd tty_, result_;
  // The server uses the channel: it goes first (members end in reverse
  // order, after ~VmBackend killed the VMM, so neither waits on the guest).
  std::unique_ptr<GuestChannel> control_;
  std::unique_ptr<FreezeServer> freeze_server_;
  std::string console_log_;
  std::string end_error_;  // why it ended, as said on stderr (State.Error)
  void say(const std::string& why) {
    std::fprintf(stderr, "hvrun: %s\n", why.c_str());
    if (end_error_.empty()) end_error_ = why;
  }
  std::string rw_disk_;
  UniqueFd snapshot_file_;  // O_TMPFILE in the snapshot store; invalid: no snapshots (snapshot_why_not_)
  Pipe snapshot_done_;      // the VMM's word on each snapshot ("snapshot written ..." / "snapshot failed: ...")
  std::string snapshot_why_not_;
  // snapshot_taken_: the snapshot file is used; snapshotted_: the VM was
  // stopped by its snapshot; left_running_: it went on after it.
  std::atomic<bool> snapshot_taken_{false}, snapshotted_{false}, left_running_{false};
};

}  // namespace

std::string vm_template_refusal(const container::RunSpec& spec, size_t more_networks) {
  if (!spec.mounts.empty()) return "it has volumes (-v): templates are of microVMs without volumes for now";
  if (more_networks > 0) return "it is connected to more than one network";
  if (spec.net == container::NetMode::Bridge && spec.netcfg.hosts_path.empty())
    return "its network has no hosts file to share";
  if (const char* e = std::getenv("HVRUN_VM_TEST_NETCFG"); e && *e) return "HVRUN_VM_TEST_NETCFG is set (a test's network)";
  return "";
}

uint64_t vm_guest_memory(int64_t memory_bytes) {
  // Room for the guest kernel, guest-init and page cache beside the workload's
  // own limit (which the cgroup inside the guest enforces).
  uint64_t base = 256 * kMiB;
  if (memory_bytes <= 0) return base;
  uint64_t want = uint64_t(memory_bytes) + 128 * kMiB;
  want = (want + kMiB - 1) / kMiB * kMiB;
  return want < base ? base : want;
}

// `rel` resolved against the directory of this hvrun binary (a build tree's
// sibling outputs), or "" when /proc/self/exe cannot be read.
static std::string beside_self(const std::string& rel) {
  std::string dir = self_exe_path();
  if (dir.empty()) return "";
  return dir.substr(0, dir.rfind('/')) + "/" + rel;
}

std::string find_guest_init() {
  if (const char* e = std::getenv("HVRUN_GUEST_INIT"); e && *e) return e;
  std::string built = beside_self("../guest-init/hvrun-guest-init");
  if (!built.empty() && ::access(built.c_str(), X_OK) == 0) return built;
  return "/usr/local/lib/hvrun/guest-init";
}

std::string find_vmm() {
  if (const char* e = std::getenv("HVRUN_VMM"); e && *e) return e;
  std::string built = beside_self("../vmm/tool/hvrun-vmm");
  if (!built.empty() && is_executable_file(built)) return built;
  const std::string installed = "/usr/local/lib/hvrun/hvrun-vmm";
  return is_executable_file(installed) ? installed : "";
}

std::string require_vmm() {
  if (const char* e = std::getenv("HVRUN_VMM"); e && *e) {
    if (!is_executable_file(e))
      throw Error(std::string("HVRUN_VMM=") + e + " is not an executable file (unset it to use the installed hvrun-vmm)");
    return e;
  }
  std::string path = find_vmm();
  if (path.empty())
    throw Error("hvrun-vmm not found beside this hvrun (../vmm/tool/) nor at /usr/local/lib/hvrun/hvrun-vmm "
                "(run scripts/setup.sh, or set HVRUN_VMM)");
  return path;
}

VmAssets locate_vm_assets(bool debug) {
  VmAssets a;
  a.debug = debug;
  const char* force = std::getenv("HVRUN_FORCE_VM");
  if (!(force && std::string(force) == "1")) {
    vmm::KvmInfo info = vmm::detect_kvm();
    vmm::require_linux_capable_kvm(info);
  }
  vmm::GuestKernel k = vmm::find_guest_kernel();
  if (!k.present)
    throw Error("no guest kernel at " + k.vmlinux + " (build it with scripts/build-kernel.sh, or set HVRUN_GUEST_KERNEL)");
  a.kernel = k.vmlinux;
  a.guest_init = find_guest_init();
  if (::access(a.guest_init.c_str(), X_OK) != 0)
    throw_sys("guest-init", a.guest_init + " (run scripts/setup.sh, or set HVRUN_GUEST_INIT)");
  a.vmm = require_vmm();
  return a;
}

std::unique_ptr<Backend> make_vm_backend(VmAssets assets) { return std::make_unique<VmBackend>(std::move(assets)); }

}  // namespace hvrun::engine
