#include "engine/snapshots.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "contract/control.hpp"
#include "engine/engine.hpp"
#include "engine/pause.hpp"
#include "engine/vm_backend.hpp"
#include "engine/vm_control.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace hvrun::engine {

namespace {

constexpr const char* kInfoFile = "snapshot.json";

std::string snapshot_dir(const std::string& store_root, const std::string& name) {
  return snapshots_dir(store_root) + "/" + name;
}

uint64_t allocated_bytes(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_blocks) * 512 : 0;
}

uint64_t apparent_bytes(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

std::string short_name(const ContainerConfig& c) { return c.name.empty() ? c.id.substr(0, 12) : c.name; }

// Removes a half-made snapshot directory unless released.
struct TmpDir {
  std::string path;
  ~TmpDir() {
    if (path.empty()) return;
    try {
      remove_all(path);
    } catch (const std::exception& e) {
      HVRUN_WARN("engine", "removing ", path, ": ", e.what());
    }
  }
};

}  // namespace

std::string snapshots_dir(const std::string& store_root) { return store_root + "/snapshots"; }

SnapshotInfo create_snapshot(const std::string& store_root, const std::string& container_ref, std::string name,
                             bool leave_running) {
  Records rec(store_root);
  const std::string id = rec.resolve(container_ref);
  const ContainerConfig cfg = rec.load_config(id);
  const State st = rec.refresh(id);
  const std::string who = short_name(cfg);
  if (cfg.mode != Mode::Vm)
    throw Error("container " + who + " is not a microVM: snapshots are of containers run with --vm (a container's "
                "processes would need CRIU: docs/labs/10-snapshots-and-clones.md)");
  if (st.status != "running" || proc_starttime(st.pid) != st.pid_starttime) throw Error("container " + who + " is not running");
  if (is_paused(cfg, st)) throw Error("container " + who + " is paused: unpause it first (hvrun unpause " + who + ")");
  const std::string base = snapshots_dir(store_root);
  mkdir_p(base, 0700);
  if (name.empty()) {
    for (unsigned n = 1;; ++n) {
      name = who + "-" + std::to_string(n);
      if (!path_exists(snapshot_dir(store_root, name))) break;
    }
  } else if (!valid_name(name) || name.size() > 100) {
    throw Error("invalid snapshot name \"" + name + "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most 100");
  }
  const std::string dir = snapshot_dir(store_root, name);
  if (path_exists(dir)) throw Error("snapshot name \"" + name + "\" is already in use");
  TmpDir tmp{base + "/.tmp-" + name + "-" + random_hex(4)};
  if (::mkdir(tmp.path.c_str(), 0700) < 0) throw_sys("mkdir", tmp.path);

  UniqueFd fd = connect_control(vm_control_socket(rec.dir(id)));
  if (!fd) throw Error("container " + who + " has no control socket (it stopped, or an older hvrun started it)");
  contract::LineBuffer lines;
  const std::string answer =
      ask_control(fd.get(), lines, (leave_running ? "snapshot-leave-running " : "snapshot ") + tmp.path, std::chrono::minutes(6));
  if (answer.rfind("error: ", 0) == 0) throw Error("snapshot of container " + who + ": " + answer.substr(7));
  if (answer != "snapshotted") throw Error("unexpected answer from the VM's monitor: '" + answer.substr(0, 64) + "'");

  SnapshotInfo info;
  info.name = name;
  info.created = now_rfc3339_nano();
  info.container_id = id;
  info.container_name = cfg.name;
  info.image = cfg.image;
  info.image_id = cfg.image_id;
  info.memory_file_bytes = apparent_bytes(tmp.path + "/" + kSnapshotMemoryFile);
  info.host_bytes = allocated_bytes(tmp.path + "/" + kSnapshotMemoryFile) + allocated_bytes(tmp.path + "/" + kSnapshotDiskFile);
  info.config = cfg;
  write_file_atomic(tmp.path + "/" + kInfoFile, nlohmann::json(info).dump(2) + "\n", 0600);
  if (::rename(tmp.path.c_str(), dir.c_str()) < 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) throw Error("snapshot name \"" + name + "\" is already in use");
    throw_sys("rename " + tmp.path + " to", dir);
  }
  tmp.path.clear();
  // The VM stops once it is saved: wait for its monitor to record that.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!leave_running && rec.monitor_alive(id) && std::chrono::steady_clock::now() < until) ::usleep(20000);
  HVRUN_DEBUG("engine", "snapshot ", name, " of ", who, ": ", info.host_bytes >> 20, " MiB on the host");
  return info;
}

std::vector<SnapshotInfo> list_snapshots(const std::string& store_root) {
  std::vector<SnapshotInfo> out;
  for (const auto& name : list_dir(snapshots_dir(store_root))) {
    if (name.empty() || name[0] == '.') continue;  // being made or removed
    try {
      out.push_back(load_snapshot(store_root, name));
    } catch (const std::exception& e) {
      HVRUN_WARN("engine", "snapshot ", name, " skipped: ", e.what());
    }
  }
  std::sort(out.begin(), out.end(), [](const SnapshotInfo& a, const SnapshotInfo& b) { return a.created < b.created; });
  return out;
}

SnapshotInfo load_snapshot(const std::string& store_root, const std::string& name) {
  if (!valid_name(name) || !is_dir(snapshot_dir(store_root, name))) throw Error("no such snapshot: " + name);
  const std::string path = snapshot_dir(store_root, name) + "/" + kInfoFile;
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  if (j.is_discarded()) throw Error("snapshot " + name + ": " + path + " is not JSON");
  try {
    return j.get<SnapshotInfo>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("snapshot " + name + ": " + path + ": " + e.what());
  }
}

void remove_snapshot(const std::string& store_root, const std::string& name) {
  if (!valid_name(name) || !is_dir(snapshot_dir(store_root, name))) throw Error("no such snapshot: " + name);
  // Out of sight first, then removed: a reader never sees half of it.
  // Clones that run from it keep their mapping of its memory (the inode
  // lives on until they end) and their own copies of the disk.
  const std::string gone = snapshots_dir(store_root) + "/.tmp-rm-" + name + "-" + random_hex(4);
  if (::rename(snapshot_dir(store_root, name).c_str(), gone.c_str()) < 0) throw_sys("remove snapshot", name);
  remove_all(gone);
}

int restore_snapshot(const std::string& store_root, const RestoreOptions& o) {
  const SnapshotInfo info = load_snapshot(store_root, o.snapshot);
  const std::string dir = snapshot_dir(store_root, o.snapshot);
  for (const char* f : {kSnapshotMemoryFile, kSnapshotDiskFile})
    if (!path_exists(dir + "/" + f)) throw Error("snapshot " + o.snapshot + " is incomplete: it has no " + f);
  const VmAssets assets = locate_vm_assets(false);  // refuses fast on a host that cannot run the VM
  ContainerConfig cfg = info.config;
  if (!path_exists(cfg.vm_image_disk))
    throw Error("snapshot " + o.snapshot + ": the image's disk " + cfg.vm_image_disk + " is gone (was image " + cfg.image +
                " removed?)");
  cfg.id.clear();
  cfg.created.clear();
  cfg.name = o.name;
  cfg.auto_remove = o.auto_remove;
  cfg.detach = o.detach;
  cfg.publish.clear();
  cfg.vm_kernel = assets.kernel;  // not booted; kept to say which kernel the record would boot
  cfg.vm_restore = dir;
  cfg.spec.upperdir.clear();
  cfg.spec.workdir.clear();
  // A VM with a network card: the clone takes an address (and MAC, tap,
  // hosts file) of its own on the snapshot's network, and guest-init puts
  // it on the card (vm_backend.cpp, RestoredMsg).
  if (cfg.spec.net == container::NetMode::Bridge) {
    container::NetConfig fresh;
    fresh.network = cfg.spec.netcfg.network;
    fresh.ifname = cfg.spec.netcfg.ifname;
    fresh.mtu = cfg.spec.netcfg.mtu;
    cfg.spec.netcfg = fresh;
  }
  Records rec(store_root);
  FileLock lock = rec.create(cfg);
  attach_record_network(store_root, rec, cfg);
  HVRUN_DEBUG("engine", "restoring snapshot ", o.snapshot, " as container ", cfg.id.substr(0, 12),
              cfg.spec.net == container::NetMode::Bridge ? " at " + cfg.spec.netcfg.address : std::string());
  return run_record(rec, cfg, o.detach);
}

}  // namespace hvrun::engine
