#include "engine/pause.hpp"

#include <exception>

#include "container/freezer.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace hvrun::engine {

namespace {

std::string short_name(const ContainerConfig& c, const std::string& id) {
  return c.name.empty() ? id.substr(0, 12) : c.name;
}

std::string freezer_of(const ContainerConfig& c) {
  return container::freezer_state(c.id, c.spec.cgroup_parent, c.spec.cgroup_root);
}

// Running as the records say, and its process still the one recorded.
bool running(const State& st) {
  return st.status == "running" && st.pid > 0 && proc_starttime(st.pid) == st.pid_starttime;
}

}  // namespace

bool is_paused(const ContainerConfig& c, const State& st) {
  if (st.status != "running") return false;
  try {
    return freezer_of(c) == "FROZEN";
  } catch (const std::exception&) {
    return false;
  }
}

std::string status_of(const ContainerConfig& c, const State& st) {
  if (st.status == "exited" && st.restarting) return "restarting";
  return is_paused(c, st) ? "paused" : st.status;
}

void pause_container(const Records& rec, const std::string& id) {
  const ContainerConfig c = rec.load_config(id);
  const State st = rec.refresh(id);
  const std::string name = short_name(c, id);
  if (!running(st)) throw Error("container " + name + " is not running");
  const std::string state = freezer_of(c);
  if (state == "FROZEN") throw Error("container " + name + " is already paused");
  if (state.empty())
    throw Error("cannot pause container " + name + ": " +
                (c.mode == Mode::Vm ? "its VMM has no cgroup of its own (a VM started by an older hvrun, or not as root)"
                                    : "it has no freezer cgroup (no freezer hierarchy on this host?)"));
  container::CgroupFreeze freeze(c.id, c.spec.cgroup_parent, c.spec.cgroup_root);
  freeze.release();
  HVRUN_DEBUG("engine", "paused ", name, " (", to_string(c.mode), ")");
}

void unpause_container(const Records& rec, const std::string& id) {
  const ContainerConfig c = rec.load_config(id);
  const State st = rec.refresh(id);
  const std::string name = short_name(c, id);
  if (!running(st)) throw Error("container " + name + " is not running");
  if (freezer_of(c) != "FROZEN") throw Error("container " + name + " is not paused");
  container::thaw_container(c.id, c.spec.cgroup_parent, c.spec.cgroup_root);
}

void thaw_if_paused(const ContainerConfig& c, const State& st) noexcept {
  try {
    if (is_paused(c, st)) container::thaw_container(c.id, c.spec.cgroup_parent, c.spec.cgroup_root);
  } catch (const std::exception& e) {
    HVRUN_WARN("engine", "thawing paused container ", c.id.substr(0, 12), " after SIGKILL: ", e.what());
  }
}

}  // namespace hvrun::engine
