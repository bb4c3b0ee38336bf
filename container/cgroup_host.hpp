// What cgroups this host offers, for `hvrun check`: the layout (v1, v2,
// hybrid or none) from the mount table, the controllers of each, and the
// version the runtime will use (detect_cgroup_version, container/cgroups.hpp).
#pragma once
#include <string>
#include <vector>

#include "container/cgroups.hpp"

namespace hvrun::container {

struct CgroupHost {
  std::string layout = "none";  // v1 | v2 | hybrid | none
  std::vector<std::string> v1_controllers;  // sorted
  std::string v2_path;                      // where cgroup2 is mounted ("": nowhere)
  std::vector<std::string> v2_controllers;
  CgroupVersion runtime = CgroupVersion::V1;  // what Cgroup::for_container uses at `root`
};

// Reads `mountinfo` (/proc/self/mountinfo) and the cgroup2 root's
// cgroup.controllers; never throws for a missing or odd file.
CgroupHost probe_cgroup_host(const std::string& root = "/sys/fs/cgroup",
                             const std::string& mountinfo = "/proc/self/mountinfo");

}  // namespace hvrun::container
