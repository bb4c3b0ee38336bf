// A container's monitor: the process that starts its workload through a
// backend, relays and logs its output, records how it ended and applies its
// restart policy; in the foreground (hvrun run) or detached (-d, start).
// Internal to engine/: the public entry points are in engine/engine.hpp.
#pragma once
#include "engine/records.hpp"

namespace hvrun::engine {

// -d: setsid + double fork; the grandchild is the monitor, which inherits
// the caller's hold on the record's lock. Returns once the workload runs
// (or throws why it could not start).
void start_detached(const Records& rec, const ContainerConfig& cfg);

}  // namespace hvrun::engine
