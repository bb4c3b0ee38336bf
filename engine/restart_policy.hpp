// --restart (Docker's restart policies): what the flag means, and when a
// container that ended is started again. Pure functions; the monitor
// (engine.cpp) and restart_by_policy act on them.
#pragma once
#include <string>

#include "engine/records.hpp"

namespace hvrun::engine {

struct RestartPolicy {
  std::string name;  // "no", "always", "unless-stopped", "on-failure"
  int max = 0;       // on-failure's most restarts (0: no limit)
};

// "no" | "always" | "unless-stopped" | "on-failure[:N]" (N >= 0). Throws a
// one-line reason for anything else.
RestartPolicy parse_restart_policy(const std::string& value);

// After its workload ended (st: the saved exit): is a container with this
// policy started again? Never when stopped by hand, nor a --rm one.
bool restart_due(const ContainerConfig& cfg, const State& st, bool stopped_by_user);

// At startup of hvrun serve (after a reboot, say): is a container whose
// monitor is gone started by its policy? always: yes, even one stopped by
// hand (Docker's rule on a daemon start); unless-stopped: unless stopped by
// hand; on-failure: as restart_due.
bool restart_on_boot(const ContainerConfig& cfg, const State& st, bool stopped_by_user);

// Milliseconds to wait before the next restart: 100, doubled for each run
// shorter than 10 s, at most 60 s (Docker's back-off); `previous_ms` is the
// last delay (0: none yet), `ran_s` how long the run that ended lasted.
int restart_delay_ms(int previous_ms, double ran_s);

}  // namespace hvrun::engine
