// What a running container uses, read from the host: `hvrun stats` (its
// cgroup's memory, CPU time and pids) and `hvrun top` (its processes). A
// microVM's are its VMM's (the cgroup hvrun-vmm runs in, where a
// container's would be): what the VM costs the host, guest RAM included.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/records.hpp"

namespace hvrun::engine {

struct ContainerUsage {
  int64_t memory_bytes = -1;
  int64_t memory_limit = -1;  // -1: none (the host's memory applies)
  int64_t cpu_ns = -1;        // CPU time used since it started
  int64_t pids = -1;
  int64_t pids_limit = -1;
  int64_t system_cpu_ns = 0;  // the host's CPU time (all CPUs) at the same moment: /proc/stat
  unsigned online_cpus = 1;
  int64_t host_memory = 0;    // MemTotal
  // Bytes the container's own network namespace received and sent (every
  // interface but lo); -1 when unknown (--net host, a microVM).
  int64_t net_rx = -1, net_tx = -1;
  // Block I/O of its cgroup (a microVM's: its VMM's); -1 when unknown.
  int64_t blk_read = -1, blk_write = -1;
};
// Throws Error "container X is not running".
ContainerUsage container_usage(const Records& rec, const std::string& id);

// `ps -ef`'s columns (UID PID PPID C STIME TTY TIME CMD) for each process of
// the container, as the host sees them.
struct ProcessTable {
  std::vector<std::string> titles;
  std::vector<std::vector<std::string>> rows;
};
ProcessTable container_top(const Records& rec, const std::string& id);

}  // namespace hvrun::engine
