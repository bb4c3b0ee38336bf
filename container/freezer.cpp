#include "container/freezer.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "container/cgroups.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace hvrun::container {
namespace {

struct Where {
  std::string dir;  // the container's freezer cgroup
  bool v2 = false;
  std::string root;  // the hierarchy's root
};

Where locate(const std::string& id, const std::string& parent, const std::string& root_in) {
  const std::string root = root_in.empty() ? "/sys/fs/cgroup" : root_in;
  auto cg = Cgroup::for_container(parent, id, root);  // validates id and parent
  const std::string rel = parent.empty() ? id : parent + "/" + id;
  if (cg->version() == CgroupVersion::V2) return {root + "/" + rel, true, root};
  return {root + "/freezer/" + rel, false, root + "/freezer"};
}

// A v2 cgroup never reports "frozen 1" while a kernel thread is in it: the
// freezer skips kthreads but counts them. KVM puts one in the cgroup of the
// process that made a VM (x86 "kvm-nx-lpage-recovery", Linux 5.x/6.x), so a
// microVM's VMM would stay FREEZING for ever. Such threads move to the
// hierarchy's root (as root may; they are KVM's housekeeping, not the
// VMM's work). Returns how many moved.
int move_out_kernel_threads(const std::string& dir, const std::string& root) {
  int moved = 0;
  for (pid_t pid : cgroup_detail::read_procs(dir)) {
    std::string stat;
    try {
      stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    } catch (const Error&) {
      continue;  // gone
    }
    // Field 9 (flags) after "pid (comm) state ppid pgrp session tty tpgid".
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    unsigned long flags = 0;
    char state = 0;
    int ppid = 0, pgrp = 0, session = 0, tty = 0, tpgid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d %d %d %d %d %lu", &state, &ppid, &pgrp, &session, &tty, &tpgid,
                    &flags) != 7)
      continue;
    constexpr unsigned long kPfKthread = 0x00200000;
    if (!(flags & kPfKthread)) continue;
    try {
      cgroup_detail::write_value(root + "/cgroup.procs", std::to_string(pid));
      ++moved;
      HVRUN_DEBUG("freezer", "moved kernel thread ", pid, " out of ", dir, " (a v2 cgroup with one never freezes)");
    } catch (const Error& e) {
      HVRUN_DEBUG("freezer", "kernel thread ", pid, " in ", dir, " stays: ", e.what());
    }
  }
  return moved;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// v2: "frozen 1" in cgroup.events.
std::string v2_state(const std::string& dir) {
  std::string want = trimmed(read_file(dir + "/cgroup.freeze"));
  std::string ev = read_file(dir + "/cgroup.events");
  bool frozen = ev.find("frozen 1") != std::string::npos;
  if (want == "1") return frozen ? "FROZEN" : "FREEZING";
  return "THAWED";
}

}  // namespace

std::string freezer_state(const std::string& id, const std::string& cgroup_parent, const std::string& cgroup_root) {
  Where w = locate(id, cgroup_parent, cgroup_root);
  try {
    if (w.v2) return v2_state(w.dir);
    return trimmed(read_file(w.dir + "/freezer.state"));
  } catch (const Error&) {
    return "";
  }
}

CgroupFreeze::CgroupFreeze(const std::string& id, const std::string& cgroup_parent, const std::string& cgroup_root,
                           int timeout_ms) {
  Where w = locate(id, cgroup_parent, cgroup_root);
  v2_ = w.v2;
  dir_ = w.dir;
  file_ = w.dir + (v2_ ? "/cgroup.freeze" : "/freezer.state");
  if (!path_exists(file_))
    throw Error("cannot pause the container: " + file_ +
                (v2_ ? " is missing (cgroup v2 freezer needs Linux 5.2+)" : " is missing (no v1 freezer hierarchy)"));
  if ((v2_ ? v2_state(w.dir) : trimmed(read_file(file_))) == "FROZEN") {
    frozen_state_ = "FROZEN";  // paused already: it stays so
    return;
  }
  if (v2_) move_out_kernel_threads(w.dir, w.root);
  cgroup_detail::write_value(file_, v2_ ? "1" : "FROZEN");
  frozen_ = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    frozen_state_ = v2_ ? v2_state(w.dir) : trimmed(read_file(file_));
    if (frozen_state_ == "FROZEN") break;
    if (std::chrono::steady_clock::now() > deadline) {
      thaw();
      throw Error("cannot pause the container: " + file_ + " still says " + frozen_state_ + " after " +
                  std::to_string(timeout_ms) + " ms");
    }
    // v1 may stay FREEZING while a task sleeps uninterruptibly: asking
    // again retries the tasks that were not frozen yet.
    if (!v2_) cgroup_detail::write_value(file_, "FROZEN");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  HVRUN_DEBUG("freezer", "froze ", w.dir, ": ", frozen_state_);
}

void CgroupFreeze::thaw() {
  if (!frozen_) return;
  frozen_ = false;
  cgroup_detail::write_value(file_, v2_ ? "0" : "THAWED");
  // Read back: v2 reports FROZEN until every task runs again.
  HVRUN_DEBUG("freezer", "thawed ", dir_, ": ", v2_ ? v2_state(dir_) : trimmed(read_file(file_)));
}

void thaw_container(const std::string& id, const std::string& cgroup_parent, const std::string& cgroup_root) {
  Where w = locate(id, cgroup_parent, cgroup_root);
  const std::string file = w.dir + (w.v2 ? "/cgroup.freeze" : "/freezer.state");
  cgroup_detail::write_value(file, w.v2 ? "0" : "THAWED");
  HVRUN_DEBUG("freezer", "thawed ", w.dir);
}

CgroupFreeze::~CgroupFreeze() {
  try {
    thaw();
  } catch (const std::exception& e) {
    HVRUN_WARN("freezer", "thaw ", file_, ": ", e.what());
  }
}

}  // namespace hvrun::container
