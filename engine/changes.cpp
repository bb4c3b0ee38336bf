#include "engine/changes.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <exception>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "container/freezer.hpp"
#include "container/namespaces.hpp"
#include "engine/pause.hpp"
#include "engine/records.hpp"
#include "engine/vm_changes.hpp"
#include "engine/vm_control.hpp"
#include "engine/vm_exec.hpp"
#include "engine/vm_files.hpp"
#include "engine/vm_template.hpp"
#include "image/commit.hpp"
#include "image/config_change.hpp"
#include "image/history.hpp"
#include "image/layer.hpp"
#include "image/oci.hpp"
#include "image/reference.hpp"
#include "image/store.hpp"
#include "util/error.hpp"
#include "util/child.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"

namespace hvrun::engine {

using json = nlohmann::json;

namespace {

// What hvrun wrote into the container's root itself (container/net.cpp).
std::set<std::string> written_by_hvrun(const ContainerConfig& cfg) {
  if (cfg.spec.netcfg.address.empty()) return {};
  return {"etc/hosts", "etc/resolv.conf", "etc/hostname"};
}

// A container and the upper directory to read: container mode's own, or a
// copy taken out of a VM's writable disk (removed with this).
struct Subject {
  std::string id;
  ContainerConfig cfg;
  State state;
  std::string upper;
  std::unique_ptr<VmUpper> vm;  // VM mode
};

// How a running microVM's disk is read.
enum class VmRead {
  Frozen,       // commit, export: its file system frozen, or refused saying why
  FrozenIfCan,  // diff: frozen when its monitor can, else as it is
  AsIs,         // commit --pause=false: as it is on the host now
};

// Holds a running microVM's writable file system frozen (guest-init's
// FIFREEZE, asked through its monitor: engine/vm_control.hpp) while its
// disk is copied. The thaw comes from thaw(), or from the disconnect when
// this goes (also when the copy throws, or this process dies).
std::unique_ptr<VmFreeze> freeze_running_vm(const Records& rec, const Subject& s, VmRead how, const char* verb) {
  const std::string name = s.cfg.name.empty() ? s.id.substr(0, 12) : s.cfg.name;
  auto fail = [&](const std::string& why) -> std::unique_ptr<VmFreeze> {
    if (how == VmRead::FrozenIfCan) {
      HVRUN_DEBUG("changes", "reading the running microVM ", name, "'s disk as it is: ", why);
      return nullptr;
    }
    throw Error("cannot " + std::string(verb) + " the running microVM " + name + ": " + why);
  };
  // Its guest cannot answer while its VMM is frozen (engine/pause.hpp).
  if (is_paused(s.cfg, s.state))
    return fail("it is paused, so its guest cannot freeze its file system: unpause it first" +
                std::string(std::string(verb) == "commit" ? ", or commit its disk as it is with --pause=false" : ""));
  std::unique_ptr<VmFreeze> hold;
  try {
    hold = VmFreeze::connect(vm_control_socket(rec.dir(s.id)));
  } catch (const Error& e) {
    return fail(e.what());
  }
  if (!hold)
    return fail("its monitor offers no freeze (no " + vm_control_socket(rec.dir(s.id)) +
                ": started by an older hvrun?); its final disk can be read once it stopped (hvrun stop " + name + ")" +
                (std::string(verb) == "commit" ? ", or its disk as it is now with --pause=false" : ""));
  try {
    hold->freeze();
  } catch (const Error& e) {
    return fail(std::string("freezing its file system failed: ") + e.what());
  }
  HVRUN_DEBUG("changes", "microVM ", name, ": file system frozen for ", verb);
  return hold;
}

Subject open_subject(const Records& rec, const std::string& ref, VmUpper::Content content, const char* verb,
                     VmRead how = VmRead::Frozen) {
  Subject s;
  s.id = rec.resolve(ref);
  s.cfg = rec.load_config(s.id);
  s.state = rec.refresh(s.id);
  if (s.cfg.mode == Mode::Vm) {
    // A stopped VM's disk is final (the guest synced before it reset). A
    // running one's is copied while its file system is frozen, so that what
    // its page cache held is on the disk and nothing changes under the copy;
    // the copy is the snapshot, so the guest runs on as soon as it is made.
    std::unique_ptr<VmFreeze> frozen;
    if (s.state.status == "running" && how != VmRead::AsIs) {
      try {
        frozen = freeze_running_vm(rec, s, how, verb);
      } catch (const Error&) {
        // It may have stopped meanwhile: then its disk is final.
        if (rec.refresh(s.id).status == "running") throw;
        HVRUN_DEBUG("changes", "microVM ", s.id.substr(0, 12), " stopped: reading its final disk");
      }
    }
    const std::string disk = rec.dir(s.id) + "/" + kVmRwDisk;
    if (s.state.started_at.empty() && !path_exists(disk))
      s.vm = std::make_unique<VmUpper>(rec.dir(s.id));  // never started: the image as it is
    else
      s.vm = std::make_unique<VmUpper>(disk, rec.dir(s.id), content);
    s.upper = s.vm->path();
    if (frozen) {
      if (std::string why = frozen->thaw(); !why.empty() && rec.monitor_alive(s.id))
        HVRUN_WARN("changes", "thaw of microVM ", s.id.substr(0, 12), ": ", why, " (closing the connection thaws it)");
      else if (!why.empty())
        HVRUN_DEBUG("changes", "microVM ", s.id.substr(0, 12), " stopped during the copy: ", why);
      else
        HVRUN_DEBUG("changes", "microVM ", s.id.substr(0, 12), ": file system thawed");
    }
    return s;
  }
  if (!s.cfg.spec.rootfs.empty())
    throw Error("container " + s.cfg.name + " runs on a plain root directory, not an image: nothing to compare");
  s.upper = s.cfg.spec.upperdir;
  if (!is_dir(s.upper)) throw Error("container " + s.cfg.name + ": its upper directory " + s.upper + " is missing");
  return s;
}


// The container's file system as one overlay: its upper directory over the
// image's layers (whiteouts and opaque directories in it act as in any
// lower layer), read-only, or writable into the upper directory with its
// own work directory. Mounted at a directory of its record in a private
// mount namespace of a child, which runs fn(mount point) there: the host's
// mount table never changes. `what` names the directory and the child.
void in_merged_view(const Records& rec, const Subject& s, bool write, const std::string& what,
                    const std::function<void(const std::string&)>& fn) {
  const std::string name = s.cfg.name.empty() ? s.id.substr(0, 12) : s.cfg.name;
  const std::vector<std::string>& lowers = s.cfg.spec.lowerdirs;
  std::string opts = write ? "lowerdir=" : "lowerdir=" + s.upper + (lowers.empty() ? "" : ":");
  for (size_t i = 0; i < lowers.size(); ++i) opts += (i ? ":" : "") + lowers[i];
  if (write) opts += ",upperdir=" + s.upper + ",workdir=" + s.cfg.spec.workdir;
  // A user-namespaced container's overlay keeps its marks in user.overlay.*
  // (container/mounts.cpp), and so must this view of it.
  if (s.cfg.spec.userns) opts += ",userxattr";
  if (opts.size() > 4000)
    throw Error("container " + name + ": too many image layers to mount at once (" + std::to_string(lowers.size()) + ")");
  const std::string mnt = rec.dir(s.id) + "/" + what + "." + std::to_string(::getpid());
  mkdir_p(mnt, 0700);
  try {
    run_in_child(
        [&] {
          if (::unshare(CLONE_NEWNS) < 0) throw_sys("unshare(CLONE_NEWNS)");
          if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) throw_sys("make / private");
          if (::mount("overlay", mnt.c_str(), "overlay", write ? 0 : MS_RDONLY, opts.c_str()) < 0)
            throw_sys("mount the file system of container " + name + " at", mnt);
          fn(mnt);
        },
        "the " + what + " process");
  } catch (...) {
    ::rmdir(mnt.c_str());
    throw;
  }
  ::rmdir(mnt.c_str());
}
}  // namespace

std::vector<image::Change> container_diff(const std::string& store_root, const std::string& ref) {
  Records rec(store_root);
  Subject s = open_subject(rec, ref, VmUpper::Content::MetadataOnly, "diff", VmRead::FrozenIfCan);
  return image::upper_changes(s.upper, s.cfg.spec.lowerdirs, written_by_hvrun(s.cfg));
}

std::string commit_container(const std::string& store_root, const std::string& ref, const CommitOptions& opts) {
  // The user's input first: nothing is read or written when it is bad.
  std::vector<std::string> tags;
  if (opts.reference) tags.push_back(image::normalize_ref(*opts.reference));
  json probe = json::object();
  for (auto& c : opts.changes) image::apply_config_change(probe, c);

  image::Store store(store_root);
  Records rec(store_root);
  Subject s = open_subject(rec, ref, VmUpper::Content::Data, "commit", opts.pause ? VmRead::Frozen : VmRead::AsIs);
  image::ImageRecord parent;
  try {
    parent = store.resolve(s.cfg.image_id);
  } catch (const Error&) {
    throw Error("container " + s.cfg.name + ": its image " + image::short_id(s.cfg.image_id) +
                " is no longer in the store");
  }
  json cfg = image::parse_json(store.config_blob(parent), "image config of " + s.cfg.image);
  if (!cfg.is_object()) throw Error("image config of " + s.cfg.image + " is not a JSON object");

  image::ImageCommit c;
  c.base_layers = parent.layers;
  c.upper = s.upper;
  c.tar.oci_whiteouts = true;
  c.tar.exclude = written_by_hvrun(s.cfg);
  if (s.cfg.spec.userns) {  // its root's files are host uid 100000's: root's in the image
    c.tar.id_base = container::kUsernsHostBase;
    c.tar.id_count = container::kUsernsSize;
  }
  c.parent = parent.id;
  c.tags = tags;
  c.what = "container " + s.cfg.name;

  const std::string now = now_rfc3339_nano();
  json history = image::aligned_history(cfg, parent.layers.size());
  json step = {{"created", now}, {"created_by", opts.created_by ? *opts.created_by : join_strings(s.cfg.spec.args)}};
  if (!opts.author.empty()) step["author"] = opts.author;
  if (!opts.message.empty()) step["comment"] = opts.message;
  history.push_back(step);
  cfg["history"] = history;
  cfg["created"] = now;
  if (!opts.author.empty()) cfg["author"] = opts.author;
  else cfg.erase("author");
  json inner = cfg.contains("config") && cfg["config"].is_object() ? cfg["config"] : json::object();
  for (auto& ch : opts.changes) image::apply_config_change(inner, ch);
  cfg["config"] = inner;
  c.config = std::move(cfg);

  std::string id;
  {
    // A running container stands still while its files are read.
    std::optional<container::CgroupFreeze> frozen;
    if (s.cfg.mode != Mode::Vm && s.state.status == "running" && opts.pause)
      frozen.emplace(s.id, s.cfg.spec.cgroup_parent, s.cfg.spec.cgroup_root);
    id = image::commit_image(store, std::move(c));
  }
  HVRUN_DEBUG("commit", "container ", s.id, " -> image ", id);
  return id;
}

void export_container(const std::string& store_root, const std::string& ref, int out_fd) {
  Records rec(store_root);
  Subject s = open_subject(rec, ref, VmUpper::Content::Data, "export");
  std::vector<std::string> lowers = s.cfg.spec.lowerdirs;
  if (lowers.empty()) throw Error("container " + s.cfg.name + " has no image layers to export");
  try {
    image::LayerTarOptions o;
    o.oci_whiteouts = false;
    o.max_size = UINT64_MAX;
    if (s.cfg.spec.userns) {  // its files as it sees them
      o.id_base = container::kUsernsHostBase;
      o.id_count = container::kUsernsSize;
    }
    in_merged_view(rec, s, false, "export", [&](const std::string& mnt) { image::write_layer_tar(mnt, out_fd, o); });
  } catch (const Error& e) {
    throw Error("export " + s.cfg.name + ": " + e.what());
  }
}

}  // namespace hvrun::engine

namespace hvrun::engine {

std::pair<std::string, std::string> split_container_path(const std::string& path) {
  std::vector<std::string> comps;
  for (size_t pos = 0; pos <= path.size();) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string c = path.substr(pos, next - pos);
    if (c == "..") {
      if (!comps.empty()) comps.pop_back();
    } else if (!c.empty() && c != ".") {
      comps.push_back(c);
    }
    pos = next + 1;
  }
  if (comps.empty()) return {"/", "."};
  std::string parent = "/";
  for (size_t i = 0; i + 1 < comps.size(); ++i) parent += (i ? "/" : "") + comps[i];
  return {parent, comps.back()};
}

namespace {

// A stopped microVM is written through its disk, as Docker writes a
// stopped container's layer: a copy of the disk is made, the upper
// directory copied out of it (engine/vm_changes.hpp), mounted with the
// image's layers as the merged view fn writes into, and what fn changed
// written back into the copy, which replaces the disk only when whole: a
// failure anywhere leaves the disk as it was. A microVM that never started
// gets its disk here, marked (kVmRwKeep) so that its first boot keeps it
// (engine/monitor.cpp), as it keeps a restarted one's.
void write_into_stopped_vm(const Records& rec, const std::string& id, const ContainerConfig& cfg, const State& st,
                           const char* verb, const std::function<void(int)>& fn) {
  const std::string name = cfg.name.empty() ? id.substr(0, 12) : cfg.name;
  // Nothing starts it meanwhile: a start takes this lock first.
  FileLock lock = FileLock::try_lock(rec.lock_path(id));
  const State now = rec.refresh(id);
  if (!lock.held() || now.status == "running") {
    if (is_paused(cfg, now)) throw Error("cannot write into the microVM " + name + " while it is paused: unpause it first");
    if (now.status == "running")
      throw Error("the microVM " + name + " started during " + verb + ": run it again (its guest then writes it)");
    throw Error("the microVM " + name + " is busy (starting, or another cp, commit or export reads its disk): run " + verb +
                " again");
  }
  const std::string disk = rec.dir(id) + "/" + kVmRwDisk;
  const bool have_disk = path_exists(disk);
  if (!have_disk && !cfg.vm_restore.empty())
    throw Error("cannot write into the microVM " + name + " before its first start: it starts from a snapshot, "
                "whose disk it takes then (start it first)");
  const std::string tag = std::to_string(::getpid());
  const std::string next = disk + ".cp-" + tag, work = rec.dir(id) + "/vm-cp-work." + tag,
                    marker = rec.dir(id) + "/vm-cp-since." + tag;
  struct Scratch {
    std::vector<std::string> paths;
    ~Scratch() {
      for (const auto& p : paths) {
        try {
          if (path_exists(p)) remove_all(p);
        } catch (const std::exception&) {
        }
      }
    }
  } scratch{{next, work, marker}};
  if (have_disk) {
    copy_file_sparse(disk, next);
    // In order before anything is allocated on it.
    try {
      repair_rw_disk(next);
    } catch (const Error& e) {
      throw Error("cannot write into the microVM " + name + " (its disk " + disk + " is left as it was): " + e.what());
    }
  } else {
    make_rw_disk(next, vm_blank_rw_disk(rec.store_root()));
  }
  Subject s;
  s.id = id;
  s.cfg = cfg;
  s.state = st;
  s.vm = std::make_unique<VmUpper>(next, rec.dir(id), VmUpper::Content::Data);
  s.upper = s.vm->path();
  mkdir_p(work, 0700);
  s.cfg.spec.workdir = work;
  // What fn changes has a ctime from here on: the file system's own clock
  // (coarse: a tick of some ms), read on a marker until it has moved past
  // the tick in which the copy out ended, so that nothing copied out counts.
  timespec since{};
  {
    UniqueFd m(::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    struct stat first {}, sb {};
    if (!m || ::fstat(m.get(), &first) < 0) throw_sys("create", marker);
    for (int i = 0; i < 1000; ++i) {
      ::usleep(1000);
      if (::fchmod(m.get(), i % 2 ? 0600 : 0400) < 0 || ::fstat(m.get(), &sb) < 0) throw_sys("touch", marker);
      if (sb.st_ctim.tv_sec != first.st_ctim.tv_sec || sb.st_ctim.tv_nsec != first.st_ctim.tv_nsec) break;
    }
    since = sb.st_ctim;
  }
  in_merged_view(rec, s, true, verb, [&](const std::string& mnt) {
    UniqueFd root(::open(mnt.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_sys("open", mnt);
    fn(root.get());
  });
  try {
    write_back_to_ext4(next, s.upper, "/upper", since);
  } catch (const Error& e) {
    const std::string m = e.what();
    if (m.find("Could not allocate") != std::string::npos || m.find("No free space") != std::string::npos)
      throw Error("cannot write into the microVM " + name + ": its writable disk is full (" + m + ")");
    throw Error("cannot write into the microVM " + name + ": " + m);
  }
  if (!have_disk) write_file_atomic(rec.dir(id) + "/" + kVmRwKeep, "written by " + std::string(verb) + " before the first start\n");
  if (::rename(next.c_str(), disk.c_str()) < 0) throw_sys("replace " + disk + " with", next);
  HVRUN_DEBUG("changes", "microVM ", name, ": ", verb, " wrote its disk ", disk);
}

// Runs fn with a directory fd of the container's root. A running
// container-mode container: its own root (/proc/PID/root), frozen while fn
// runs, in this process. Otherwise its overlay (a microVM's upper read from
// its disk), mounted in a private mount namespace of a child that runs fn:
// what fn learns goes back through fds.
void with_container_root(const Records& rec, const std::string& ref, bool write, const char* verb,
                         const std::function<void(int)>& fn) {
  const std::string id = rec.resolve(ref);
  ContainerConfig cfg = rec.load_config(id);
  const std::string name = cfg.name.empty() ? id.substr(0, 12) : cfg.name;
  State st = rec.refresh(id);
  const bool running = st.status == "running" && st.pid > 0 && proc_starttime(st.pid) == st.pid_starttime;
  if (cfg.mode != Mode::Vm && running) {
    UniqueFd root(::open(("/proc/" + std::to_string(st.pid) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_sys(std::string(verb) + " container " + name + ": open its root");
    // Checked again with the root open: the pid was the container's.
    if (proc_starttime(st.pid) != st.pid_starttime) throw Error("container " + name + " stopped during " + verb);
    // One copy at a time per container: a freeze finding the cgroup frozen
    // already leaves it as it was, so a second copy's thaw must never come
    // while the first still walks the tree.
    FileLock one_at_a_time(rec.dir(id) + "/cp.lock");
    container::CgroupFreeze frozen(id, cfg.spec.cgroup_parent, cfg.spec.cgroup_root);
    fn(root.get());
    return;
  }
  if (cfg.mode == Mode::Vm && write) {  // (a running one's copy_into_container hands the archive to its guest)
    write_into_stopped_vm(rec, id, cfg, st, verb, fn);
    return;
  }
  if (!cfg.spec.rootfs.empty()) {  // a plain root directory
    UniqueFd root(::open(cfg.spec.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_sys(verb, cfg.spec.rootfs);
    fn(root.get());
    return;
  }
  // Stopped (or a microVM): nothing runs it meanwhile (a start waits for
  // this lock; a microVM's disk is read frozen, as commit reads it).
  FileLock lock = FileLock::try_lock(rec.lock_path(id));
  if (!lock.held() && cfg.mode != Mode::Vm) throw Error("container " + name + " started during " + verb);
  Subject s = open_subject(rec, id, VmUpper::Content::Data, verb);
  in_merged_view(rec, s, write, verb, [&](const std::string& mnt) {
    UniqueFd root(::open(mnt.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_sys("open", mnt);
    fn(root.get());
  });
}

Error no_such_path(const Records& rec, const std::string& ref, const std::string& path) {
  std::string name = ref;
  try {
    name = rec.load_config(rec.resolve(ref)).name;
  } catch (const Error&) {
  }
  return Error("no such file or directory in container " + name + ": " + path);
}

}  // namespace

PathInfo stat_in_container(const std::string& store_root, const std::string& ref, const std::string& path) {
  Records rec(store_root);
  // Named, not a structured binding: clang 14 (the fuzz build) cannot capture one.
  const auto split = split_container_path(path);
  const std::string& parent = split.first;
  const std::string& base = split.second;
  // Measured where the root is (perhaps a child): the answer comes back as
  // one line "mode size mtime target".
  Pipe p = Pipe::make();
  with_container_root(rec, ref, false, "stat", [&](int root) {
    UniqueFd dir = image::open_in_root(root, parent == "/" ? "." : parent.substr(1), O_PATH | O_DIRECTORY);
    struct stat sb {};
    std::string line = "-\n";
    if (dir && ::fstatat(dir.get(), base.c_str(), &sb, AT_SYMLINK_NOFOLLOW) == 0) {
      std::string target;
      if (S_ISLNK(sb.st_mode)) {
        char t[4096];
        ssize_t n = ::readlinkat(dir.get(), base.c_str(), t, sizeof t);
        if (n > 0) target.assign(t, static_cast<size_t>(n));
      }
      line = std::to_string(sb.st_mode) + " " + std::to_string(sb.st_size) + " " + std::to_string(sb.st_mtim.tv_sec) +
             " " + target;
    }
    if (!write_all(p.write.get(), line)) throw_sys("report a stat");
    p.write.reset();
  });
  p.write.reset();
  const std::string line = read_to_end(p.read.get());
  if (line.empty() || line[0] == '-') throw no_such_path(rec, ref, path);
  PathInfo info;
  info.name = base == "." ? "/" : base;
  size_t a = line.find(' '), b = line.find(' ', a + 1), c = line.find(' ', b + 1);
  if (a == std::string::npos || b == std::string::npos || c == std::string::npos) throw Error("stat " + path + ": bad report");
  info.mode = static_cast<uint32_t>(std::stoul(line.substr(0, a)));
  info.size = std::stoll(line.substr(a + 1, b - a - 1));
  info.mtime = std::stoll(line.substr(b + 1, c - b - 1));
  info.link_target = line.substr(c + 1);
  return info;
}

void copy_from_container(const std::string& store_root, const std::string& ref, const std::string& path, int out_fd,
                         uint64_t min_free_space) {
  Records rec(store_root);
  // Named, not a structured binding: clang 14 (the fuzz build) cannot capture one.
  const auto split = split_container_path(path);
  const std::string& parent = split.first;
  const std::string& base = split.second;
  // A user-namespaced container's files as it sees them (its root's are host uid 100000's).
  const ContainerConfig cfg = rec.load_config(rec.resolve(ref));
  with_container_root(rec, ref, false, "cp", [&](int root) {
    UniqueFd dir = image::open_in_root(root, parent == "/" ? "." : parent.substr(1), O_RDONLY | O_DIRECTORY);
    struct stat sb {};
    if (!dir || ::fstatat(dir.get(), base.c_str(), &sb, AT_SYMLINK_NOFOLLOW) < 0) throw no_such_path(rec, ref, path);
    image::write_entry_tar(dir.get(), base, out_fd, "", min_free_space, cfg.spec.userns ? container::kUsernsHostBase : 0,
                           cfg.spec.userns ? container::kUsernsSize : 0);
  });
}

void copy_into_container(const std::string& store_root, const std::string& ref, const std::string& dir, int in_fd,
                         bool no_dir_swap) {
  Records rec(store_root);
  const ContainerConfig cfg = rec.load_config(rec.resolve(ref));
  if (cfg.mode == Mode::Vm && rec.refresh(cfg.id).status == "running") {
    // Its guest-init unpacks it, inside the container's root (guest-init/exec.hpp).
    try {
      extract_in_vm(vm_control_socket(rec.dir(cfg.id)), cfg.name.empty() ? cfg.id.substr(0, 12) : cfg.name, dir,
                    no_dir_swap, in_fd);
    } catch (const Error& e) {
      const std::string m = e.what();
      if (m.rfind("no such directory: ", 0) == 0) throw no_such_path(rec, ref, dir);
      if (m.rfind("invalid destination ", 0) == 0) throw Error(m + " in container " + cfg.name);
      throw;
    }
    return;
  }
  const image::ExtractOptions o =
      image::cp_extract_options(cfg.spec.userns ? container::kUsernsHostBase : 0, no_dir_swap);
  with_container_root(rec, ref, true, "cp", [&](int root) {
    const auto [parent, base] = split_container_path(dir);
    const std::string rel = base == "." ? "." : (parent == "/" ? "" : parent.substr(1) + "/") + base;
    UniqueFd d = image::open_in_root(root, rel, O_RDONLY | O_DIRECTORY);
    if (!d) {
      if (errno == ENOTDIR) throw Error("invalid destination " + dir + ": not a directory in container " + cfg.name);
      throw no_such_path(rec, ref, dir);
    }
    image::extract_tar(in_fd, "the archive for " + cfg.name + ":" + dir, d.get(), o);
  });
}

std::string read_file_in_container(const std::string& store_root, const std::string& ref, const std::string& path,
                                   size_t max_bytes) {
  Records rec(store_root);
  // Named, not a structured binding: clang 14 (the fuzz build) cannot capture one.
  const auto split = split_container_path(path);
  const std::string& parent = split.first;
  const std::string& base = split.second;
  if (base == ".") throw Error("invalid path " + path + ": a file is needed");
  // Read where the root is (perhaps a child): the bytes come back on a pipe
  // whose end is read here while the reader writes.
  Pipe p = Pipe::make();
  std::string data;
  UniqueFd w = std::move(p.write);
  std::thread collect([&] { data = read_to_end(p.read.get()); });
  try {
    with_container_root(rec, ref, false, "read", [&](int root) {
      UniqueFd dir = image::open_in_root(root, parent == "/" ? "." : parent.substr(1), O_PATH | O_DIRECTORY);
      UniqueFd f;
      if (dir) f.reset(::openat(dir.get(), base.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (!f) throw no_such_path(rec, ref, path);
      struct stat sb {};
      if (::fstat(f.get(), &sb) < 0 || !S_ISREG(sb.st_mode)) throw Error("invalid path " + path + ": not a regular file");
      if (static_cast<uint64_t>(sb.st_size) > max_bytes)
        throw Error("file " + path + " is larger than " + std::to_string(max_bytes) + " bytes");
      char buf[65536];
      for (ssize_t n; (n = ::read(f.get(), buf, sizeof buf)) > 0;)
        if (!write_all(w.get(), buf, static_cast<size_t>(n))) throw_sys("pass on", path);
    });
  } catch (...) {
    w.reset();
    collect.join();
    throw;
  }
  w.reset();
  collect.join();
  if (data.size() > max_bytes) throw Error("file " + path + " is larger than " + std::to_string(max_bytes) + " bytes");
  return data;
}

void write_file_in_container(const std::string& store_root, const std::string& ref, const std::string& path,
                             const std::string& data, unsigned mode) {
  Records rec(store_root);
  const ContainerConfig cfg = rec.load_config(rec.resolve(ref));
  // Named, not a structured binding: clang 14 (the fuzz build) cannot capture one.
  const auto split = split_container_path(path);
  const std::string& parent = split.first;
  const std::string& base = split.second;
  if (base == ".") throw Error("invalid path " + path + ": a file is needed");
  const unsigned owner = cfg.spec.userns ? container::kUsernsHostBase : 0;
  if (cfg.mode == Mode::Vm && rec.refresh(cfg.id).status == "running") {
    // As docker cp's archive: a one-file tar its guest unpacks.
    UniqueFd tar(::memfd_create("hvrun-file-tar", MFD_CLOEXEC));
    if (!tar) throw_sys("memfd_create");
    image::write_file_tar(base, data, mode, tar.get());
    if (::lseek(tar.get(), 0, SEEK_SET) < 0) throw_sys("lseek", "the file's tar");
    copy_into_container(store_root, ref, parent, tar.get());
    return;
  }
  with_container_root(rec, ref, true, "write", [&](int root) {
    UniqueFd dir = image::open_in_root(root, parent == "/" ? "." : parent.substr(1), O_PATH | O_DIRECTORY);
    if (!dir) throw no_such_path(rec, ref, parent);
    // A new file beside it, renamed over it: never written through a link.
    const std::string tmp = "." + base + ".hvrun-" + std::to_string(::getpid());
    UniqueFd f(::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777));
    if (!f) throw_sys("create", path);
    if (!write_all(f.get(), data) || ::fchown(f.get(), owner, owner) < 0 || ::fchmod(f.get(), mode & 07777) < 0 ||
        ::renameat(dir.get(), tmp.c_str(), dir.get(), base.c_str()) < 0) {
      const int e = errno;
      ::unlinkat(dir.get(), tmp.c_str(), 0);
      throw_sys("write", path, e);
    }
  });
}

}  // namespace hvrun::engine
