#include "engine/vm_template.hpp"
#include "engine/vm_files.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "image/digest.hpp"
#include "image/prune.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/log.hpp"
#include "vmm/kvm_kind.hpp"
#include "vmm/snapshot_file.hpp"

namespace hvrun::engine {

namespace {

constexpr int kTemplateFormat = 3;  // 3: virtio-9p state carries its fids
// A template VM that has not asked to be saved by then is given up on (it
// boots in ~3 s in the nested test host, well under 1 s on hardware).
constexpr auto kMakeTimeout = std::chrono::seconds(60);
// After a failed make, runs of that key boot for this long before one
// tries again (a guest that hangs must not cost every run the timeout).
constexpr auto kRetryAfter = std::chrono::minutes(10);

std::string identity(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) < 0) throw_sys("stat", path);
  return path + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino);
}


// Boots the template VM into `tmp` and waits until it was saved (or not).
void make_template(const VmAssets& assets, const container::RunSpec& spec, const std::string& store, const std::string& tmp) {
  VmAssets t = assets;
  t.work_dir = tmp;
  t.snapshot_store = store;
  t.make_template = true;
  t.template_out = tmp;
  t.template_dir.clear();
  t.restore_dir.clear();
  container::RunSpec ts;
  ts.id = "template-" + random_hex(6);
  ts.args = {"/bin/true"};
  ts.net = spec.net;  // Bridge: a card and the hosts share, on stand-ins (vm_backend.cpp)
  ts.netcfg.hosts_path = spec.netcfg.hosts_path;
  ts.memory_bytes = spec.memory_bytes;
  ts.cpus = spec.cpus;
  ts.cgroup_parent = spec.cgroup_parent;
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  container::Stdio io{-1, devnull.get(), devnull.get()};
  auto backend = make_vm_backend(t);
  backend->start(ts, io, std::nullopt);
  // A guest that never asks to be saved (it hung, or its guest-init is not
  // the one the key names) is killed.
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread watchdog([&] {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, kMakeTimeout, [&] { return done; })) backend->kill(SIGKILL);
  });
  container::ExitStatus es = backend->wait();
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  watchdog.join();
  if (es.exit_code() != 0) {
    std::string why;
    try {
      why = read_file(tmp + "/" + kTemplateFailureFile);
    } catch (const std::exception&) {
      why = "status " + std::to_string(es.exit_code());
    }
    throw Error("the template VM was not saved: " + why);
  }
}

}  // namespace

std::string vm_templates_dir(const std::string& store_root) { return store_root + "/templates"; }

// The size and format options are in vm_backend.cpp (format_rw_disk): a
// change there takes a new name here.
std::string vm_blank_rw_disk(const std::string& store_root) { return vm_templates_dir(store_root) + "/blank-rw-4g-v1.ext4"; }

nlohmann::json vm_template_made_of(const VmAssets& assets, const container::RunSpec& spec) {
  return {{"format", kTemplateFormat},
          {"kernel", identity(assets.kernel)},
          {"guest_init", identity(assets.guest_init)},
          {"vmm", identity(assets.vmm.empty() ? require_vmm() : assets.vmm)},
          {"memory_bytes", vm_guest_memory(spec.memory_bytes)},
          {"vcpus", spec.cpus > 0 ? unsigned(std::ceil(spec.cpus)) : 1u},
          {"network_card", spec.net == container::NetMode::Bridge},
          {"log_level", log::level_name(log::level())}};
}

TemplateChoice vm_template_for(const std::string& store_root, const VmAssets& assets, const container::RunSpec& spec,
                               bool retry_failed) {
  TemplateChoice c;
  if (const char* e = std::getenv("HVRUN_VM_TEMPLATE"); e && (std::string(e) == "off" || std::string(e) == "0")) {
    c.why_not = "templates are off (HVRUN_VM_TEMPLATE=" + std::string(e) + ")";
    return c;
  }
  if (std::string why = vm_template_refusal(spec, assets.more_networks.size()); !why.empty()) {
    c.why_not = "no template for this VM: " + why;
    return c;
  }
  try {
    const nlohmann::json made_of = vm_template_made_of(assets, spec);
    image::Sha256 h;
    h.update(made_of.dump());
    const std::string key = h.hex().substr(0, 32);
    const std::string store = vm_templates_dir(store_root);
    const std::string dir = store + "/" + key;
    const std::string snap = dir + "/" + kSnapshotMemoryFile;
    mkdir_p(store, 0700);
    auto usable = [&]() -> bool {
      if (!path_exists(snap)) return false;
      try {
        // Taken on this CPU, by this hvrun-vmm's format, whole (header and
        // state sections' checksums): else it goes and is made again.
        (void)vmm::snapshot::Reader::open(snap, vmm::snapshot::Origin::here());
        return true;
      } catch (const std::exception& e) {
        HVRUN_DEBUG("engine", "template ", dir, " cannot be used (", e.what(), "): made again");
        remove_all(dir);
        return false;
      }
    };
    if (usable()) {
      c.dir = dir;
      return c;
    }
    FileLock lock(dir + ".lock");  // one maker per key; the others wait for it
    if (usable()) {
      c.dir = dir;
      return c;
    }
    const std::string failed = dir + ".failed";  // holds why the last make failed
    struct stat fst{};
    if (!retry_failed && ::stat(failed.c_str(), &fst) == 0) {
      const auto age = std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(fst.st_mtime);
      if (age < kRetryAfter) {
        c.why_not = "no template VM: making it failed " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count()) + " s ago (" +
                    read_file(failed) + "); the next try is 10 minutes after that";
        return c;
      }
    }
    const std::string tmp = store + "/.tmp-" + key + "-" + random_hex(4);
    mkdir_p(tmp, 0700);
    try {
      const auto t0 = std::chrono::steady_clock::now();
      make_template(assets, spec, store, tmp);
      for (const char* f : {"image-placeholder", kVmRwDisk, "initramfs.cpio"}) ::unlink((tmp + "/" + f).c_str());
      write_file_atomic(tmp + "/template.json", made_of.dump(2) + "\n", 0600);
      if (::rename(tmp.c_str(), dir.c_str()) < 0) throw_sys("rename " + tmp + " to", dir);
      HVRUN_DEBUG("engine", "template VM made in ",
                  std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count(),
                  " ms: ", dir);
    } catch (const std::exception& e) {
      try {
        write_file_atomic(failed, e.what(), 0600);
      } catch (const std::exception&) {
      }
      remove_all(tmp);
      throw;
    }
    ::unlink(failed.c_str());
    c.dir = dir;
    c.made = true;
  } catch (const std::exception& e) {
    c.dir.clear();
    c.why_not = std::string("no template VM: ") + e.what();
  }
  return c;
}

TemplateChoice warm_vm_template(const std::string& store_root, const container::RunSpec& spec) {
  if (std::string why = vm_template_refusal(spec); !why.empty()) throw Error("no template for this VM: " + why);
  VmAssets a = locate_vm_assets(false);  // refuses a host that cannot boot Linux, with the way out
  const std::string store = vm_templates_dir(store_root);
  mkdir_p(store, 0700);
  a.blank_rw_disk = vm_blank_rw_disk(store_root);
  container::RunSpec s = spec;
  // A VM with a network card shares its hosts file's directory: the
  // template is made with a stand-in one (each run shares its own).
  std::string hosts_dir;
  if (s.net == container::NetMode::Bridge) {
    hosts_dir = store + "/.warm-hosts-" + random_hex(4);
    mkdir_p(hosts_dir, 0700);
    s.netcfg.hosts_path = hosts_dir + "/hosts";
    write_file_atomic(s.netcfg.hosts_path, "127.0.0.1\tlocalhost\n", 0644);
  }
  const TemplateChoice c = vm_template_for(store_root, a, s, true);  // never throws
  if (!hosts_dir.empty()) remove_all(hosts_dir);
  if (c.dir.empty()) throw Error(c.why_not);
  return c;
}

namespace {

// What this hvrun's templates are made of (its guest kernel, guest-init and
// hvrun-vmm files and the format), or null when one of its files is gone
// (then nothing can use any template).
nlohmann::json current_identity() {
  try {
    VmAssets a;
    a.kernel = vmm::find_guest_kernel().vmlinux;
    a.guest_init = find_guest_init();
    a.vmm = require_vmm();
    return vm_template_made_of(a, container::RunSpec{});
  } catch (const std::exception&) {
    return nullptr;
  }
}

// Whether a template's template.json matches `now` (current_identity()).
bool is_current(const nlohmann::json& made_of, const nlohmann::json& now) {
  if (now.is_null()) return false;
  for (const char* k : {"format", "kernel", "guest_init", "vmm"})
    if (made_of.value(k, nlohmann::json()) != now[k]) return false;
  return true;
}

}  // namespace

std::vector<TemplateInfo> list_vm_templates(const std::string& store_root) {
  std::vector<TemplateInfo> out;
  const std::string store = vm_templates_dir(store_root);
  if (!path_exists(store)) return out;
  const nlohmann::json now = current_identity();
  for (const auto& name : list_dir(store)) {
    const std::string dir = store + "/" + name;
    struct stat st{};
    if (name.empty() || name[0] == '.' || ::stat((dir + "/template.json").c_str(), &st) < 0) continue;
    TemplateInfo t;
    t.key = name;
    t.made_at = st.st_mtime;
    try {
      const nlohmann::json j = nlohmann::json::parse(read_file(dir + "/template.json"));
      t.memory_bytes = j.value("memory_bytes", uint64_t(0));
      t.vcpus = j.value("vcpus", 0u);
      t.network_card = j.value("network_card", false);
      t.log_level = j.value("log_level", "");
      t.current = is_current(j, now);
    } catch (const std::exception&) {
      t.current = false;  // not ours to read: prune takes it
    }
    t.disk_bytes = image::disk_bytes(dir);
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const TemplateInfo& a, const TemplateInfo& b) {
    return a.made_at != b.made_at ? a.made_at < b.made_at : a.key < b.key;
  });
  return out;
}

std::vector<std::string> prune_vm_templates(const std::string& store_root, bool all) {
  std::vector<std::string> removed;
  const std::string store = vm_templates_dir(store_root);
  if (!path_exists(store)) return removed;
  for (const auto& t : list_vm_templates(store_root)) {
    if (t.current && !all) continue;
    FileLock lock(store + "/" + t.key + ".lock");  // not while a run makes it (the lock file stays: others may wait on it)
    remove_all(store + "/" + t.key);
    ::unlink((store + "/" + t.key + ".failed").c_str());
    removed.push_back(t.key);
  }
  // Left by makes that failed or were killed (not one under way), and (all) the blank disk.
  for (const auto& name : list_dir(store)) {
    const bool leftover = name.rfind(".tmp-", 0) == 0 || name.rfind(".warm-hosts-", 0) == 0;
    if (leftover) {
      struct stat st{};
      // A make under way (its lock held) is minutes old at most.
      if (::stat((store + "/" + name).c_str(), &st) == 0 && std::time(nullptr) - st.st_mtime < 600) continue;
    }
    if (leftover || (all && name == std::filesystem::path(vm_blank_rw_disk(store_root)).filename().string()))
      remove_all(store + "/" + name);
  }
  return removed;
}

}  // namespace hvrun::engine
