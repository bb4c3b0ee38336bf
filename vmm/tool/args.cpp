#include "vmm/tool/args.hpp"

#include <cstdio>
#include <exception>

#include "util/error.hpp"
#include "util/netif.hpp"
#include "vmm/tap.hpp"

namespace hvrun::vmm::tool {

uint64_t parse_size(const std::string& s) {
  if (s.empty()) throw Error("--mem: empty size");
  if (s[0] < '0' || s[0] > '9') throw Error("--mem: not a size: '" + s + "' (examples: 256M, 1G)");
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
  } else if (!parse_mac(t.mac, m)) {
    throw Error("--net-tap: bad MAC address '" + t.mac + "' (want xx:xx:xx:xx:xx:xx)");
  }
  return t;
}

namespace {

unsigned parse_unsigned(const std::string& opt, const std::string& v) {
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
    throw Error(opt + ": not a whole number: '" + v + "'");
  return unsigned(std::stoul(v));
}

// PATH[,ro] or PATH[,rw]
DiskConfig parse_disk(const std::string& d) {
  DiskConfig dc;
  dc.path = d;
  if (d.size() > 3 && d.compare(d.size() - 3, 3, ",ro") == 0) {
    dc.path = d.substr(0, d.size() - 3);
    dc.readonly = true;
  } else if (d.size() > 3 && d.compare(d.size() - 3, 3, ",rw") == 0) {
    dc.path = d.substr(0, d.size() - 3);
  }
  if (dc.path.empty()) throw Error("--disk: no path in '" + d + "'");
  return dc;
}

}  // namespace

ShareConfig parse_share(const std::string& arg) {
  ShareConfig s;
  size_t comma = arg.find(',');
  s.path = arg.substr(0, comma);
  if (s.path.empty()) throw Error("--share: no directory in '" + arg + "' (want DIR,tag=TAG[,ro])");
  while (comma != std::string::npos) {
    size_t next = arg.find(',', comma + 1);
    std::string opt = arg.substr(comma + 1, next == std::string::npos ? std::string::npos : next - comma - 1);
    if (opt.rfind("tag=", 0) == 0)
      s.tag = opt.substr(4);
    else if (opt == "ro")
      s.readonly = true;
    else
      throw Error("--share: unknown option '" + opt + "' in '" + arg + "' (want DIR,tag=TAG[,ro])");
    comma = next;
  }
  if (s.tag.empty()) throw Error("--share: no tag in '" + arg + "' (want DIR,tag=TAG[,ro])");
  return s;
}

Args parse_args(const std::vector<std::string>& words) {
  Args a;
  bool have_kernel = false, have_cmdline = false;
  std::vector<std::string> taps;
  for (size_t i = 0; i < words.size(); ++i) {
    std::string w = words[i];
    if (w == "-h" || w == "--help") {
      a.help = true;
      return a;
    }
    if (w.size() < 3 || w.compare(0, 2, "--") != 0)
      throw Error("unexpected argument '" + w + "' (options start with --; see 'hvrun vmm --help')");
    std::string inline_value;
    bool has_inline = false;
    if (size_t eq = w.find('='); eq != std::string::npos) {
      inline_value = w.substr(eq + 1);
      w = w.substr(0, eq);
      has_inline = true;
    }
    auto flag = [&] {
      if (has_inline) throw Error(w + " takes no value (got '" + inline_value + "')");
      return true;
    };
    auto value = [&]() -> std::string {
      if (has_inline) return inline_value;
      if (i + 1 >= words.size()) throw Error(w + " needs a value (see 'hvrun vmm --help')");
      return words[++i];
    };
    if (w == "--kernel") {
      a.kernel = value();
      have_kernel = true;
    } else if (w == "--initrd") {
      a.initrd = value();
    } else if (w == "--cmdline") {
      a.cmdline = value();
      have_cmdline = true;
    } else if (w == "--mem") {
      a.mem_bytes = parse_size(value());
      a.mem_set = true;
    } else if (w == "--cpus") {
      a.cpus = parse_unsigned(w, value());
      a.cpus_set = true;
    } else if (w == "--disk") {
      a.disks.push_back(parse_disk(value()));
    } else if (w == "--share") {
      a.shares.push_back(parse_share(value()));
    } else if (w == "--net-tap") {
      taps.push_back(value());
    } else if (w == "--console-stdio") {
      a.console_stdio = flag();
    } else if (w == "--raw") {
      a.raw = flag();
    } else if (w == "--debug") {
      a.debug = flag();
    } else if (w == "--restore") {
      a.restore = value();
      if (a.restore.empty()) throw Error("--restore: empty path");
    } else if (w == "--snapshot-to") {
      a.snapshot_to = value();
      if (a.snapshot_to.empty()) throw Error("--snapshot-to: empty path");
    } else if (w == "--launch-fd") {
      a.launch_fd = int(parse_unsigned(w, value()));
    } else {
      throw Error("unknown option '" + w + "' (see 'hvrun vmm --help')");
    }
  }
  if (a.launch_fd >= 0) {
    if (have_kernel || have_cmdline || !a.initrd.empty() || !a.disks.empty() || !taps.empty() || a.raw ||
        !a.shares.empty() || a.console_stdio || !a.restore.empty() || !a.snapshot_to.empty())
      throw Error("--launch-fd takes everything from the launch config: no other VM options beside it");
    return a;
  }
  if (!a.restore.empty()) {
    // The snapshot holds the booted kernel, its command line, memory and vCPUs.
    if (have_kernel || have_cmdline || !a.initrd.empty() || a.raw || a.mem_set || a.cpus_set)
      throw Error("--restore takes the kernel, command line, memory and vCPUs from the snapshot: "
                  "give only devices (--disk, --console-stdio, --net-tap, --share) beside it");
  } else {
    if (!have_kernel) throw Error("--kernel is required (see 'hvrun vmm --help')");
    if (a.kernel.empty()) throw Error("--kernel: empty path");
  }
  for (size_t i = 0; i < taps.size(); ++i) a.net_taps.push_back(parse_net_tap(taps[i], i));
  return a;
}

std::string usage() {
  return "Boot a kernel in a microVM (low level: serial console on stdout)\n"
         "Usage: hvrun vmm --kernel K [OPTIONS]\n"
         "       hvrun vmm --restore SNAPSHOT [DEVICE OPTIONS]\n"
         "\n"
         "Options:\n"
         "  --kernel PATH        ELF vmlinux (PVH entry) or bzImage (required)\n"
         "  --initrd PATH        initramfs (cpio, may be several concatenated)\n"
         "  --cmdline TEXT       kernel command line (virtio_mmio.device=... is appended;\n"
         "                       default 'console=ttyS0 reboot=k panic=1')\n"
         "  --mem SIZE           guest memory, e.g. 256M, 1G (16M to 3G; default 256M)\n"
         "  --cpus N             vCPUs (1-64; default 1)\n"
         "  --disk PATH[,ro]     virtio-blk disk; repeat for vda, vdb, ...\n"
         "  --console-stdio      connect stdin/stdout to hvc0 (virtio-console) instead of ttyS0 input\n"
         "  --net-tap NAME[,mac=MAC][,bridge=BR]\n"
         "                       virtio-net card on a new tap (removed when the VM ends); repeat for eth1...\n"
         "  --share DIR,tag=TAG[,ro]\n"
         "                       share DIR over virtio-9p (guest: mount -t 9p -o trans=virtio TAG /mnt)\n"
         "  --raw                the kernel is a flat test binary entered in 64-bit mode at 0x100000\n"
         "  --snapshot-to PATH   on SIGUSR1 write a snapshot of the VM to PATH and go on;\n"
         "                       on SIGUSR2 write it and stop the VM\n"
         "  --restore PATH       start from a snapshot instead of a kernel: the VM goes on\n"
         "                       where it was; give the same kinds of devices in the same order\n"
         "  --debug              verbose diagnostics on stderr (also: hvrun --debug vmm ...)\n"
         "  -h, --help           this text\n"
         "\n"
         "stdin feeds ttyS0, or hvc0 with --console-stdio. Exit status: 0 when the guest\n"
         "resets or shuts down, 125 on a VM error or bad arguments.\n";
}

}  // namespace hvrun::vmm::tool
