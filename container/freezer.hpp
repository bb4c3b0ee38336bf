// Freezing a running container's processes (cgroup freezer) while its
// filesystem is copied (`hvrun commit --pause`), or until `hvrun unpause`
// (engine/pause.hpp): v1 freezer.state
// (FROZEN/THAWED, FREEZING on the way) or v2 cgroup.freeze (cgroup.events
// says "frozen 1" once every task stopped), whichever the host has.
#pragma once
#include <string>

namespace hvrun::container {

// The container's freezer state as the kernel reports it: "THAWED",
// "FREEZING" or "FROZEN" (v2 reported in the same words); "" when the
// container has no freezer cgroup (not running, or no freezer hierarchy).
std::string freezer_state(const std::string& id, const std::string& cgroup_parent = "hvrun",
                          const std::string& cgroup_root = "");

// RAII: freezes the container's cgroup and waits (up to `timeout_ms`) until
// the kernel says every task is frozen; thaws in the destructor (or thaw()),
// unless it was frozen already (a paused container stays paused) or
// release() was called (`hvrun pause`). Throws Error naming the cgroup file
// when it cannot freeze.
class CgroupFreeze {
 public:
  CgroupFreeze(const std::string& id, const std::string& cgroup_parent = "hvrun", const std::string& cgroup_root = "",
               int timeout_ms = 10000);
  ~CgroupFreeze();
  CgroupFreeze(const CgroupFreeze&) = delete;
  CgroupFreeze& operator=(const CgroupFreeze&) = delete;
  void thaw();
  // Leaves the cgroup frozen when this goes.
  void release() { frozen_ = false; }
  // The state read back after freezing ("FROZEN").
  const std::string& state_after_freeze() const { return frozen_state_; }

 private:
  std::string dir_;   // the container's freezer cgroup
  std::string file_;  // freezer.state (v1) or cgroup.freeze (v2)
  bool v2_ = false;
  bool frozen_ = false;
  std::string frozen_state_;
};

// Thaws the container's cgroup (v1 THAWED, v2 cgroup.freeze 0). Throws
// Error naming the file when it cannot.
void thaw_container(const std::string& id, const std::string& cgroup_parent = "hvrun", const std::string& cgroup_root = "");

}  // namespace hvrun::container
