#include "container/cgroup_host.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace hvrun::container {

CgroupHost probe_cgroup_host(const std::string& root, const std::string& mountinfo) {
  CgroupHost info;
  static const std::set<std::string> known = {"cpu",    "cpuacct", "cpuset",  "memory",   "devices", "freezer",
                                              "blkio",  "pids",    "net_cls", "net_prio", "perf_event",
                                              "hugetlb", "rdma",   "misc"};
  std::set<std::string> v1;
  std::ifstream in(mountinfo);
  for (std::string line; std::getline(in, line);) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
    auto f = split_words(line);
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || dash + 3 > f.end()) continue;
    const std::string& type = *(dash + 1);
    const std::string super = (dash + 3 < f.end()) ? *(dash + 3) : "";
    if (type == "cgroup2" && info.v2_path.empty()) {
      info.v2_path = f[4];
    } else if (type == "cgroup") {
      std::istringstream opts(super);
      for (std::string o; std::getline(opts, o, ',');)
        if (known.count(o)) v1.insert(o);
    }
  }
  info.v1_controllers.assign(v1.begin(), v1.end());
  if (!info.v2_path.empty()) {
    try {
      info.v2_controllers = split_words(read_file(info.v2_path + "/cgroup.controllers"));
    } catch (const Error&) {
    }
  }
  const bool has_v1 = !v1.empty();
  const bool has_v2 = !info.v2_path.empty();
  info.layout = has_v1 && has_v2 ? "hybrid" : has_v1 ? "v1" : has_v2 ? "v2" : "none";
  info.runtime = detect_cgroup_version(root);
  return info;
}

}  // namespace hvrun::container
