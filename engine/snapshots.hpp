// Snapshots of running microVMs: hvrun snapshot create|ls|inspect|rm|restore.
//   ROOT/snapshots/<name>/snapshot.json  SnapshotInfo
//   ROOT/snapshots/<name>/vm.snap        the VMM's snapshot (vmm/snapshot_file.hpp):
//                                        memory, vCPUs, interrupt controllers,
//                                        clock, every device
//   ROOT/snapshots/<name>/rw.ext4        the VM's writable disk as it was then
//   ROOT/snapshots/.tmp-*                a snapshot being made: renamed into
//                                        place only when whole
// create asks the VM's monitor (its control socket, engine/vm_control.hpp)
// for the snapshot; the VM stops once it is saved, as `docker checkpoint
// create` stops a container. restore makes a new container (its own name,
// id and copy of the disk) that goes on from where the snapshot was taken;
// any number of them run at once as clones, sharing the snapshot's memory
// page cache copy-on-write.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/records.hpp"

namespace hvrun::engine {

struct SnapshotInfo {
  std::string name;
  std::string created;  // RFC 3339
  std::string container_id;
  std::string container_name;
  std::string image;
  std::string image_id;
  uint64_t memory_file_bytes = 0;  // vm.snap as the guest sees it (apparent size)
  uint64_t host_bytes = 0;         // what vm.snap and rw.ext4 take on the host (allocated)
  ContainerConfig config;          // the container's, as it was
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SnapshotInfo, name, created, container_id, container_name, image, image_id,
                                                memory_file_bytes, host_bytes, config)

std::string snapshots_dir(const std::string& store_root);

// Saves running microVM `container_ref` as snapshot `name` ("" : NAME-N from
// the container's name) and stops it; leave_running: it goes on (its
// vCPUs wait while its disk is copied; one such snapshot per run). Throws
// Error with one line: not a VM, not running, paused, a name in use or
// invalid; nothing is left behind by a failed create. Volumes and a network
// card are carried: a clone shares the same host directories (its 9p fids
// reopened by path, vmm/p9_fids.hpp) and joins the same network with an
// address of its own (restore_snapshot).
SnapshotInfo create_snapshot(const std::string& store_root, const std::string& container_ref, std::string name,
                             bool leave_running = false);

// Every snapshot, oldest first.
std::vector<SnapshotInfo> list_snapshots(const std::string& store_root);
// Throws "no such snapshot: NAME".
SnapshotInfo load_snapshot(const std::string& store_root, const std::string& name);
void remove_snapshot(const std::string& store_root, const std::string& name);

struct RestoreOptions {
  std::string snapshot;
  std::string name;  // the new container's ("": generated)
  bool detach = false;
  bool auto_remove = false;
};
// Starts a new container from the snapshot: foreground (returns its exit
// status) or detached (prints its id, returns 0), as `hvrun run`. A clone
// of a VM with a network card gets a lease of its own on that network (a
// new address, MAC, tap and hosts file; -p ports are not carried).
int restore_snapshot(const std::string& store_root, const RestoreOptions& o);

}  // namespace hvrun::engine
