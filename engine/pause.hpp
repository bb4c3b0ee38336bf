// hvrun pause / unpause (Docker's): every process of a running container
// frozen at once by the cgroup freezer (v1 freezer.state or v2
// cgroup.freeze, container/freezer.hpp) until unpause. For a microVM it is
// the VMM's own cgroup (engine/vmm_jail.hpp), at the same place: its vCPU
// threads stop, and with them every device thread, so the guest neither
// runs nor sees I/O complete; on unpause it goes on where it stopped (its
// clock jumps, as a paused container's does).
//
// Paused is not stored: it is read from the kernel (a running container
// whose cgroup is FROZEN), so it is never stale. While paused: `exec` is
// refused; `kill` (SIGKILL), `stop` (after its timeout) and `rm -f` thaw
// after sending SIGKILL so that it takes effect (a v1 freezer holds even
// fatal signals); other signals wait until unpause, as with Docker.
#pragma once
#include <string>

#include "engine/records.hpp"

namespace hvrun::engine {

bool is_paused(const ContainerConfig& c, const State& st);
// "paused" for a paused container, else st.status.
std::string status_of(const ContainerConfig& c, const State& st);

// Throw Error: not running, already paused / not paused, no freezer.
void pause_container(const Records& rec, const std::string& id);
void unpause_container(const Records& rec, const std::string& id);

// After a SIGKILL was sent: thaws a paused container so that it dies.
// Never throws (logs why it could not).
void thaw_if_paused(const ContainerConfig& c, const State& st) noexcept;

}  // namespace hvrun::engine
