#include "guest-init/plan.hpp"

#include <sys/mount.h>

#include "util/error.hpp"

namespace hvrun::guestinit {

std::vector<MountStep> early_mounts() {
  const unsigned long nsd = MS_NOSUID | MS_NODEV;
  return {
      {"proc", "/proc", "proc", nsd | MS_NOEXEC, ""},
      {"sysfs", "/sys", "sysfs", nsd | MS_NOEXEC, ""},
      {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
      {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666"},
      {"shm", "/dev/shm", "tmpfs", nsd, "mode=1777"},
      {"run", "/run", "tmpfs", nsd, "mode=0755"},
      {"tmp", "/tmp", "tmpfs", nsd, "mode=1777"},
      {"cgroup2", "/sys/fs/cgroup", "cgroup2", nsd | MS_NOEXEC, ""},
  };
}

std::vector<MountStep> disk_mounts(const Layout& l) {
  return {
      {l.image_dev, l.image_dir, "ext4", MS_RDONLY | MS_NODEV, ""},
      {l.rw_dev, l.rw_dir, "ext4", MS_NODEV, ""},
  };
}

namespace {
// A path inside the image disk: relative or absolute, no "..".
std::string inside(const std::string& root, const std::string& p) {
  if (p.find('\0') != std::string::npos) throw Error("lowerdir holds a NUL byte");
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (p.compare(i, j - i, "..") == 0 && j - i == 2)
      throw Error("lowerdir '" + p + "' escapes the image disk ('..' is not allowed)");
    i = j + 1;
  }
  std::string rel = p;
  while (!rel.empty() && rel.front() == '/') rel.erase(rel.begin());
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  return rel.empty() ? root : root + "/" + rel;
}

const char* const kNinePOptions = "trans=virtio,version=9p2000.L,access=client,cache=mmap,msize=262144";
}  // namespace

std::string volume_dir(const Layout& l, size_t i) { return l.volumes_dir + "/" + std::to_string(i); }

std::vector<MountStep> share_mounts(const contract::GuestSpec& g, const Layout& l) {
  std::vector<MountStep> out;
  for (size_t i = 0; i < g.volumes.size(); ++i) {
    // The 9p mount is of the share (its tag); a file volume's bind mount
    // takes the one file in it (plan_spec).
    // cache=mmap: every read and write goes to the host, so the host and
    // the workload see each other's changes at once (like a bind mount);
    // only mmap()ed pages are cached (cache=none would refuse shared
    // writable mappings, which databases use).
    // access=client: the guest kernel checks permissions; the VMM's server
    // gives new files the creating uid/gid (QEMU's "passthrough").
    out.push_back({contract::volume_tag(i), volume_dir(l, i), "9p",
                   (g.volumes[i].readonly ? (unsigned long)MS_RDONLY : 0ul) | MS_NOSUID | MS_NODEV, kNinePOptions});
  }
  if (g.hosts_share)
    out.push_back({contract::kHostsShareTag, l.hosts_dir, "9p", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   kNinePOptions});
  return out;
}

container::RunSpec plan_spec(const contract::GuestSpec& g, const Layout& l) {
  container::RunSpec spec = g.workload;
  if (spec.args.empty()) throw Error("spec.json has no command (args is empty)");
  // Only volume shares reach into the guest: a host path cannot.
  for (const auto& m : spec.mounts)
    throw Error("bind mounts (" + m.source + ") cannot reach into a microVM: only volume shares");
  if (!spec.netcfg.hosts_path.empty())
    throw Error("netcfg.hosts_path " + spec.netcfg.hosts_path + " cannot reach into a microVM: only the " +
                contract::kHostsShareTag + " share");
  if (spec.net == container::NetMode::Bridge)
    throw Error("net \"bridge\" cannot be wired inside the guest: the host wires the VM, the workload gets \"host\"");
  for (size_t i = 0; i < g.volumes.size(); ++i) {
    const auto& v = g.volumes[i];
    std::string source = volume_dir(l, i);
    if (v.file) source += std::string("/") + contract::kVolumeFileName;
    spec.mounts.push_back({source, v.target, v.readonly});
  }
  if (g.hosts_share) spec.netcfg.hosts_path = l.hosts_dir + "/" + contract::kHostsFileName;
  std::vector<std::string> lower;
  if (spec.lowerdirs.empty())
    lower.push_back(l.image_dir);
  else
    for (const auto& d : spec.lowerdirs) lower.push_back(inside(l.image_dir, d));
  spec.lowerdirs = std::move(lower);
  spec.upperdir = l.rw_dir + "/upper";
  spec.workdir = l.rw_dir + "/work";
  spec.rootfs.clear();
  return spec;
}

}  // namespace hvrun::guestinit
