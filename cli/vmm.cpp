// hvrun vmm: the low-level VMM, like a tiny firecracker/lkvm. Boots a kernel
// (ELF vmlinux via PVH, or bzImage) with ttyS0 on stdout.
//   hvrun vmm --kernel K [--initrd I] [--cmdline C] [--mem 256M] [--cpus N]
//             [--disk PATH[,ro]]... [--console-stdio] [--raw]
//             [--net-tap NAME[,mac=MAC][,bridge=BR]]...
// stdin feeds ttyS0, or hvc0 (virtio-console) with --console-stdio. Exit
// status: 0 when the guest resets or shuts down, 1 on a VM error.
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "cli/commands.hpp"
#include "util/error.hpp"
#include "vmm/tap.hpp"
#include "vmm/vm.hpp"

namespace hvrun::cli {
namespace {

uint64_t parse_size(const std::string& s) {
  if (s.empty()) throw Error("--mem: empty size");
  size_t pos = 0;
  unsigned long long v;
  try {
    v = std::stoull(s, &pos, 10);
  } catch (const std::exception&) {
    throw Error("--mem: not a size: '" + s + "' (examples: 256M, 1G)");
  }
  std::string suffix = s.substr(pos);
  uint64_t mult = 1;
  if (suffix == "K" || suffix == "k" || suffix == "KiB") mult = 1ull << 10;
  else if (suffix == "M" || suffix == "m" || suffix == "MiB") mult = 1ull << 20;
  else if (suffix == "G" || suffix == "g" || suffix == "GiB") mult = 1ull << 30;
  else if (!suffix.empty()) throw Error("--mem: unknown size suffix in '" + s + "' (use K, M or G)");
  if (v > (1ull << 40) / mult) throw Error("--mem: size too large: " + s);
  return v * mult;
}

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

void on_stop_signal(int) { vmm::request_stop(); }

// --net-tap NAME[,mac=MAC][,bridge=BR]: a virtio-net card on a fresh
// (non-persistent) tap NAME, brought up, joined to bridge BR if given.
struct NetTap {
  std::string name, mac, bridge;
};
NetTap parse_net_tap(const std::string& arg, size_t index) {
  NetTap t;
  size_t pos = 0;
  bool first = true;
  while (pos <= arg.size()) {
    size_t comma = arg.find(',', pos);
    if (comma == std::string::npos) comma = arg.size();
    std::string item = arg.substr(pos, comma - pos);
    pos = comma + 1;
    if (first) {
      t.name = item;
      first = false;
    } else if (item.rfind("mac=", 0) == 0) {
      t.mac = item.substr(4);
    } else if (item.rfind("bridge=", 0) == 0) {
      t.bridge = item.substr(7);
    } else {
      throw Error("--net-tap: unknown option '" + item + "' in '" + arg + "' (want NAME[,mac=MAC][,bridge=BR])");
    }
  }
  if (t.name.empty()) throw Error("--net-tap: no tap name in '" + arg + "'");
  unsigned char m[6];
  if (t.mac.empty()) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "52:54:00:12:34:%02x", unsigned(0x56 + index) & 0xff);
    t.mac = buf;
  } else if (!vmm::parse_mac(t.mac, m)) {
    throw Error("--net-tap: bad MAC address '" + t.mac + "' (want xx:xx:xx:xx:xx:xx)");
  }
  return t;
}

const char* reason_name(vmm::VmResult::Reason r) {
  switch (r) {
    case vmm::VmResult::Reason::Reset: return "reset";
    case vmm::VmResult::Reason::Halt: return "halt";
    case vmm::VmResult::Reason::Shutdown: return "shutdown";
    case vmm::VmResult::Reason::Error: return "error";
  }
  return "?";
}

}  // namespace

void register_vmm(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("vmm", "Boot a kernel in a microVM (low level: serial console on stdout)");
  struct Opts {
    std::string kernel, initrd, cmdline = "console=ttyS0 reboot=k panic=1", mem = "256M";
    unsigned cpus = 1;
    std::vector<std::string> disks;
    bool console_stdio = false;
    bool raw = false;
    std::vector<std::string> net_taps;
  };
  auto opts = std::make_shared<Opts>();
  sub->add_option("--kernel", opts->kernel, "ELF vmlinux (PVH entry) or bzImage")->required();
  sub->add_option("--initrd", opts->initrd, "initramfs (cpio, may be several concatenated)");
  sub->add_option("--cmdline", opts->cmdline, "kernel command line (virtio_mmio.device=... is appended)");
  sub->add_option("--mem", opts->mem, "guest memory, e.g. 256M, 1G (16M to 3G)");
  sub->add_option("--cpus", opts->cpus, "vCPUs (1-64)");
  sub->add_option("--disk", opts->disks, "virtio-blk disk PATH[,ro]; repeat for vda, vdb, ...");
  sub->add_flag("--console-stdio", opts->console_stdio, "connect stdin/stdout to hvc0 (virtio-console) instead of ttyS0 input");
  sub->add_option("--net-tap", opts->net_taps,
                  "virtio-net card on a new tap NAME[,mac=MAC][,bridge=BR] (removed when the VM ends); repeat for eth1...");
  sub->add_flag("--raw", opts->raw, "the kernel is a flat test binary entered in 64-bit mode at 0x100000 (tests/guests)");
  sub->callback([opts, &ctx, &action] {
    action = [opts, &ctx]() -> int {
      vmm::VmConfig cfg;
      cfg.kernel = opts->kernel;
      cfg.initrd = opts->initrd;
      cfg.cmdline = opts->cmdline;
      cfg.mem_bytes = parse_size(opts->mem);
      cfg.vcpus = opts->cpus;
      cfg.raw_kernel = opts->raw;
      cfg.debug = ctx.debug;
      for (const auto& d : opts->disks) {
        vmm::DiskConfig dc;
        dc.path = d;
        if (d.size() > 3 && d.compare(d.size() - 3, 3, ",ro") == 0) {
          dc.path = d.substr(0, d.size() - 3);
          dc.readonly = true;
        } else if (d.size() > 3 && d.compare(d.size() - 3, 3, ",rw") == 0) {
          dc.path = d.substr(0, d.size() - 3);
        }
        cfg.disks.push_back(dc);
      }
      std::vector<UniqueFd> taps;  // open for as long as the VM runs
      for (size_t i = 0; i < opts->net_taps.size(); ++i) {
        NetTap t = parse_net_tap(opts->net_taps[i], i);
        std::string ifname;
        taps.push_back(vmm::open_tap(t.name, &ifname));
        if (!t.bridge.empty()) vmm::join_bridge(t.bridge, ifname);
        vmm::link_up(ifname);
        cfg.nics.push_back({taps.back().get(), t.mac});
      }
      cfg.serial_out_fd = STDOUT_FILENO;
      if (opts->console_stdio) {
        cfg.consoles.push_back({STDIN_FILENO, STDOUT_FILENO});
        if (cfg.cmdline.find("console=hvc0") == std::string::npos) cfg.cmdline += " console=hvc0";
      } else {
        cfg.serial_in_fd = STDIN_FILENO;
      }
      struct sigaction sa{};
      sa.sa_handler = on_stop_signal;
      sigemptyset(&sa.sa_mask);
      ::sigaction(SIGTERM, &sa, nullptr);
      ::sigaction(SIGINT, &sa, nullptr);
      ::sigaction(SIGHUP, &sa, nullptr);
      vmm::VmResult r;
      {
        RawTerminal raw;
        r = vmm::run_vm(cfg);
      }
      for (const auto& b : r.broken_devices) std::fprintf(stderr, "hvrun: guest broke a device: %s\n", b.c_str());
      const bool notable = r.detail.find("triple fault") != std::string::npos;
      if ((ctx.debug && r.reason != vmm::VmResult::Reason::Error) || notable) {
        std::fprintf(stderr, "hvrun: vm ended: %s%s%s\n", reason_name(r.reason), r.detail.empty() ? "" : ": ", r.detail.c_str());
      }
      if (ctx.debug && r.boot_ns) {
        std::fprintf(stderr, "hvrun: boot timer: guest init reached after %.3f ms\n", static_cast<double>(r.boot_ns) / 1e6);
      }
      if (r.reason == vmm::VmResult::Reason::Error) throw Error("vm failed: " + r.detail);
      return 0;
    };
  });
}

}  // namespace hvrun::cli
