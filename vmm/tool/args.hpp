// The command line of hvrun-vmm, which is also `hvrun vmm` (hvrun execs
// hvrun-vmm in place with the words after "vmm"). Hand-rolled: a dozen
// options do not justify linking CLI11 into the VMM process.
//
//   hvrun vmm --kernel K [--initrd I] [--cmdline C] [--mem 256M] [--cpus N]
//             [--disk PATH[,ro]]... [--console-stdio] [--raw]
//             [--net-tap NAME[,mac=MAC][,bridge=BR]]... [--share DIR,tag=T[,ro]]...
//             [--snapshot-to SNAP] [--debug]
//   hvrun vmm --restore SNAP [device options]
//   hvrun-vmm --launch-fd N     (internal: the engine's VM backend, launch.hpp)
//
// Options take their value as the next word or after '=' (--mem=1G).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/vm.hpp"

namespace hvrun::vmm::tool {

// --net-tap NAME[,mac=MAC][,bridge=BR]: a virtio-net card on a fresh
// (non-persistent) tap NAME, brought up, joined to bridge BR if given.
struct NetTap {
  std::string name, mac, bridge;
};

struct Args {
  bool help = false;
  bool debug = false;
  int launch_fd = -1;  // >= 0: engine mode, everything else comes from the launch config
  std::string kernel, initrd, cmdline = "console=ttyS0 reboot=k panic=1";
  uint64_t mem_bytes = 256ull << 20;
  unsigned cpus = 1;
  std::vector<DiskConfig> disks;
  bool console_stdio = false;
  bool raw = false;
  std::vector<NetTap> net_taps;
  std::vector<ShareConfig> shares;
  std::string restore;      // --restore: a snapshot to start from
  std::string snapshot_to;  // --snapshot-to: where SIGUSR1/SIGUSR2 write one
  bool mem_set = false, cpus_set = false;
};

// Parses the words after the program name. Throws Error with a one-line
// message (naming the option and the bad value) on bad input.
Args parse_args(const std::vector<std::string>& words);

// "256M" -> bytes (K, M, G suffixes; KiB, MiB, GiB too); throws Error naming --mem.
uint64_t parse_size(const std::string& s);

// NAME[,mac=MAC][,bridge=BR]; a card without mac= gets 52:54:00:12:34:(56+index).
NetTap parse_net_tap(const std::string& arg, size_t index);

// DIR,tag=TAG[,ro]: a virtio-9p share (mount -t 9p -o trans=virtio TAG).
ShareConfig parse_share(const std::string& arg);

// The --help text.
std::string usage();

}  // namespace hvrun::vmm::tool
