#include "guest-init/plan.hpp"

#include <sys/mount.h>

#include <csignal>
#include <nlohmann/json.hpp>

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

container::RunSpec parse_spec(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error("spec.json is not valid JSON: " + std::string(e.what()));
  }
  if (!j.is_object()) throw Error("spec.json must hold a JSON object (a RunSpec)");
  try {
    return j.get<container::RunSpec>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("spec.json is not a RunSpec: " + std::string(e.what()));
  }
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

std::string volume_tag(size_t i) { return kVolumeTagPrefix + std::to_string(i); }

std::string volume_file_source(size_t i) { return volume_tag(i) + "/" + kVolumeFileName; }

std::string volume_dir(const Layout& l, size_t i) { return l.volumes_dir + "/" + std::to_string(i); }

namespace {
// Where volume i's source lands in the guest: hvrun-vol<i> is the share's
// mount point, hvrun-vol<i>/file the one file in it. Anything else is
// refused: a host path cannot reach into the VM.
std::string guest_volume_source(const std::string& source, size_t i, const Layout& l) {
  if (source == volume_tag(i)) return volume_dir(l, i);
  if (source == volume_file_source(i)) return volume_dir(l, i) + "/" + kVolumeFileName;
  if (source.rfind(kVolumeTagPrefix, 0) == 0)
    throw Error("volume " + source + " is mount " + std::to_string(i) + ": out of order");
  throw Error("bind mounts (" + source + ") cannot reach into a microVM: only volume shares (" + kVolumeTagPrefix +
              "N)");
}
// The live hosts file in the guest ("" for none); only the hosts share's tag is accepted.
std::string guest_hosts_path(const std::string& hosts_path, const Layout& l) {
  if (hosts_path.empty()) return "";
  if (hosts_path != kHostsShareTag)
    throw Error("netcfg.hosts_path " + hosts_path + " cannot reach into a microVM: only the " + kHostsShareTag +
                " share");
  return l.hosts_dir + "/hosts";
}
}  // namespace

std::vector<MountStep> share_mounts(const container::RunSpec& host_spec, const Layout& l) {
  std::vector<MountStep> out;
  for (size_t i = 0; i < host_spec.mounts.size(); ++i) {
    const auto& m = host_spec.mounts[i];
    (void)guest_volume_source(m.source, i, l);  // the same checks as plan_spec
    // The 9p mount is of the share (the tag); a file volume's source names
    // the file in it.
    // cache=mmap: every read and write goes to the host, so the host and
    // the workload see each other's changes at once (like a bind mount);
    // only mmap()ed pages are cached (cache=none would refuse shared
    // writable mappings, which databases use).
    // access=client: the guest kernel checks permissions; the VMM's server
    // gives new files the creating uid/gid (QEMU's "passthrough").
    out.push_back({volume_tag(i), volume_dir(l, i), "9p",
                   (m.readonly ? (unsigned long)MS_RDONLY : 0ul) | MS_NOSUID | MS_NODEV,
                   kNinePOptions});
  }
  if (!guest_hosts_path(host_spec.netcfg.hosts_path, l).empty())
    out.push_back({kHostsShareTag, l.hosts_dir, "9p", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, kNinePOptions});
  return out;
}

container::RunSpec plan_spec(container::RunSpec spec, const Layout& l) {
  if (spec.args.empty()) throw Error("spec.json has no command (args is empty)");
  // Volumes reach the guest as virtio-9p shares of the host directories
  // (tags hvrun-vol<i>, see vmm/virtio_9p.hpp): the source must be one.
  for (size_t i = 0; i < spec.mounts.size(); ++i) spec.mounts[i].source = guest_volume_source(spec.mounts[i].source, i, l);
  spec.netcfg.hosts_path = guest_hosts_path(spec.netcfg.hosts_path, l);
  std::vector<std::string> lower;
  if (spec.lowerdirs.empty())
    lower.push_back(l.image_dir);
  else
    for (const auto& d : spec.lowerdirs) lower.push_back(inside(l.image_dir, d));
  spec.lowerdirs = std::move(lower);
  spec.upperdir = l.rw_dir + "/upper";
  spec.workdir = l.rw_dir + "/work";
  spec.rootfs.clear();
  // The host wired the VM (not the container) to the bridge; guest-init has
  // given the guest's card the address, so the container shares the guest's
  // network. netcfg stays: the container stack writes /etc/hosts and
  // resolv.conf from it.
  if (spec.net == "bridge") spec.net = "host";
  return spec;
}

std::optional<ControlMsg> parse_control(const std::string& line, std::string* why) {
  auto fail = [&](const std::string& w) -> std::optional<ControlMsg> {
    if (why) *why = w;
    return std::nullopt;
  };
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  if (auto it = j.find("signal"); it != j.end()) {
    if (!it->is_number_integer()) return fail("signal must be an integer");
    int s = it->get<int>();
    if (s <= 0 || s >= NSIG) return fail("signal " + std::to_string(s) + " out of range");
    ControlMsg m{ControlMsg::Kind::Signal};
    m.signal = s;
    return m;
  }
  if (auto it = j.find("winsize"); it != j.end()) {
    if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number_unsigned() || !(*it)[1].is_number_unsigned())
      return fail("winsize must be [rows,cols]");
    auto r = (*it)[0].get<unsigned long>(), c = (*it)[1].get<unsigned long>();
    if (r > 0xffff || c > 0xffff) return fail("winsize out of range");
    ControlMsg m{ControlMsg::Kind::Winsize};
    m.rows = static_cast<unsigned short>(r);
    m.cols = static_cast<unsigned short>(c);
    return m;
  }
  if (auto it = j.find("stdin_eof"); it != j.end() && it->is_boolean() && it->get<bool>())
    return ControlMsg{ControlMsg::Kind::StdinEof};
  return fail("unknown control message");
}

std::string ready_event() { return R"({"event":"ready"})" "\n"; }

std::string exit_event(const container::ExitStatus& st) {
  nlohmann::json j = {{"event", "exit"}, {"code", st.code}, {"signal", st.signal}, {"oom", st.oom_killed}};
  return j.dump() + "\n";
}

std::string error_event(const std::string& message) {
  nlohmann::json j = {{"event", "exit"}, {"code", 125}, {"signal", 0}, {"oom", false}, {"error", message}};
  return j.dump() + "\n";
}

}  // namespace hvrun::guestinit
