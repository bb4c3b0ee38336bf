#include "vmm/tool/launch.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include <nlohmann/json.hpp>

#include "contract/json_numbers.hpp"
#include "util/error.hpp"

namespace hvrun::vmm::tool {

using nlohmann::json;

std::string launch_to_json(const Launch& l) {
  const VmConfig& c = l.vm;
  json disks = json::array(), consoles = json::array(), nics = json::array(), shares = json::array();
  for (const auto& d : c.disks) disks.push_back({{"path", d.path}, {"readonly", d.readonly}});
  for (const auto& k : c.consoles) consoles.push_back({{"in", k.in_fd}, {"out", k.out_fd}});
  for (const auto& n : c.nics) nics.push_back({{"tap_fd", n.tap_fd}, {"mac", n.mac}});
  for (const auto& s : c.shares) shares.push_back({{"path", s.path}, {"tag", s.tag}, {"readonly", s.readonly}});
  json binds = json::array();
  for (const auto& b : l.file_binds) binds.push_back({{"source", b.source}, {"target", b.target}, {"readonly", b.readonly}});
  json j = {{"kernel", c.kernel},
            {"initrd", c.initrd},
            {"cmdline", c.cmdline},
            {"mem_bytes", c.mem_bytes},
            {"vcpus", c.vcpus},
            {"disks", disks},
            {"consoles", consoles},
            {"nics", nics},
            {"shares", shares},
            {"serial_out_fd", c.serial_out_fd},
            {"serial_in_fd", c.serial_in_fd},
            {"raw_kernel", c.raw_kernel},
            {"debug", c.debug},
            {"relay",
             {{"monitor", l.relay.monitor},
              {"hvc2", l.relay.hvc2},
              {"hvc2_vmm", l.relay.hvc2_vmm},
              {"gate", l.relay.gate},
              {"input", l.relay.input},
              {"tty", l.relay.tty},
              {"guest_ready", l.relay.guest_ready}}},
            {"file_binds", binds},
            {"result_fd", l.result_fd}};
  if (!c.restore_from.empty()) j["restore_from"] = c.restore_from;
  if (c.snapshot_fd >= 0) j["snapshot_fd"] = c.snapshot_fd;
  if (c.snapshot_done_fd >= 0) j["snapshot_done_fd"] = c.snapshot_done_fd;
  if (c.snapshot_on_guest_request) j["snapshot_on_guest_request"] = true;
  if (l.jail.enabled) {
    j["jail"] = {{"uid", l.jail.uid}, {"gid", l.jail.gid}};
    if (l.jail.monitor_pidfd >= 0) j["jail"]["monitor_pidfd"] = l.jail.monitor_pidfd;
  }
  return j.dump();
}

void apply_file_binds(const std::vector<FileBind>& binds) {
  if (binds.empty()) return;
  if (::unshare(CLONE_NEWNS) < 0) throw_sys("unshare the VMM's mount namespace (file volumes)");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) throw_sys("make the VMM's mounts private");
  for (const auto& b : binds) {
    if (::mount(b.source.c_str(), b.target.c_str(), nullptr, MS_BIND, nullptr) < 0)
      throw_sys("file volume: bind " + b.source + " onto", b.target);
    if (b.readonly &&
        ::mount(nullptr, b.target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) < 0)
      throw_sys("file volume: make read-only", b.target);
  }
}

namespace {

void check_fd(int fd, const std::string& field) {
  if (fd < -1) throw Error("launch config: " + field + " is not an fd: " + std::to_string(fd));
  if (fd >= 0 && ::fcntl(fd, F_GETFD) < 0) throw Error("launch config: " + field + " = fd " + std::to_string(fd) + " is not open");
}

}  // namespace

Launch launch_from_json(const std::string& text, bool check_fds) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error("launch config: not a JSON object");
  contract::require_integers(j, "launch config");
  Launch l;
  VmConfig& c = l.vm;
  try {
    c.kernel = j.at("kernel").get<std::string>();
    c.initrd = j.at("initrd").get<std::string>();
    c.cmdline = j.at("cmdline").get<std::string>();
    c.mem_bytes = j.at("mem_bytes").get<uint64_t>();
    c.vcpus = j.at("vcpus").get<unsigned>();
    for (const auto& d : j.at("disks")) c.disks.push_back({d.at("path").get<std::string>(), d.at("readonly").get<bool>()});
    for (const auto& k : j.at("consoles")) c.consoles.push_back({k.at("in").get<int>(), k.at("out").get<int>()});
    for (const auto& n : j.at("nics")) c.nics.push_back({n.at("tap_fd").get<int>(), n.at("mac").get<std::string>()});
    for (const auto& s : j.at("shares"))
      c.shares.push_back({s.at("path").get<std::string>(), s.at("tag").get<std::string>(), s.at("readonly").get<bool>()});
    c.serial_out_fd = j.at("serial_out_fd").get<int>();
    c.serial_in_fd = j.at("serial_in_fd").get<int>();
    c.raw_kernel = j.at("raw_kernel").get<bool>();
    c.debug = j.at("debug").get<bool>();
    const json& r = j.at("relay");
    l.relay.monitor = r.at("monitor").get<int>();
    l.relay.hvc2 = r.at("hvc2").get<int>();
    l.relay.hvc2_vmm = r.at("hvc2_vmm").get<int>();
    l.relay.gate = r.at("gate").get<int>();
    l.relay.input = r.at("input").get<int>();
    l.relay.tty = r.at("tty").get<bool>();
    l.relay.guest_ready = r.value("guest_ready", false);
    l.result_fd = j.at("result_fd").get<int>();
    if (j.contains("jail")) {
      const json& jl = j.at("jail");
      l.jail.enabled = true;
      l.jail.uid = jl.at("uid").get<uint32_t>();
      l.jail.gid = jl.at("gid").get<uint32_t>();
      if (jl.contains("monitor_pidfd")) l.jail.monitor_pidfd = jl.at("monitor_pidfd").get<int>();
    }
    if (j.contains("restore_from")) c.restore_from = j.at("restore_from").get<std::string>();
    if (j.contains("snapshot_fd")) c.snapshot_fd = j.at("snapshot_fd").get<int>();
    if (j.contains("snapshot_done_fd")) c.snapshot_done_fd = j.at("snapshot_done_fd").get<int>();
    c.snapshot_on_guest_request = j.value("snapshot_on_guest_request", false);
    for (const auto& b : j.at("file_binds"))
      l.file_binds.push_back({b.at("source").get<std::string>(), b.at("target").get<std::string>(), b.at("readonly").get<bool>()});
  } catch (const json::exception& e) {
    throw Error(std::string("launch config: ") + e.what());
  }
  if (c.kernel.empty() && c.restore_from.empty()) throw Error("launch config: no kernel");
  if (l.jail.enabled && (l.jail.uid == 0 || l.jail.gid == 0))
    throw Error("launch config: the jail's uid and gid must not be root's (0)");
  if (l.relay.monitor >= 0 && l.relay.hvc2 < 0) throw Error("launch config: a relay needs relay.hvc2");
  if (check_fds) {
    for (size_t i = 0; i < c.consoles.size(); ++i) {
      check_fd(c.consoles[i].in_fd, "consoles[" + std::to_string(i) + "].in");
      check_fd(c.consoles[i].out_fd, "consoles[" + std::to_string(i) + "].out");
    }
    for (size_t i = 0; i < c.nics.size(); ++i) {
      if (c.nics[i].tap_fd < 0) throw Error("launch config: nics[" + std::to_string(i) + "] has no tap fd");
      check_fd(c.nics[i].tap_fd, "nics[" + std::to_string(i) + "].tap_fd");
    }
    check_fd(c.serial_out_fd, "serial_out_fd");
    check_fd(c.serial_in_fd, "serial_in_fd");
    check_fd(l.relay.monitor, "relay.monitor");
    check_fd(l.relay.hvc2, "relay.hvc2");
    check_fd(l.relay.hvc2_vmm, "relay.hvc2_vmm");
    check_fd(l.relay.gate, "relay.gate");
    check_fd(l.relay.input, "relay.input");
    check_fd(l.result_fd, "result_fd");
    check_fd(c.snapshot_fd, "snapshot_fd");
    check_fd(c.snapshot_done_fd, "snapshot_done_fd");
    if (l.jail.monitor_pidfd >= 0) check_fd(l.jail.monitor_pidfd, "jail.monitor_pidfd");
  }
  return l;
}

std::string result_to_json(const VmResult& r) {
  json j = {{"reason", int(r.reason)}, {"detail", r.detail}, {"boot_ns", r.boot_ns}, {"broken", r.broken_devices}};
  return j.dump();
}

}  // namespace hvrun::vmm::tool
