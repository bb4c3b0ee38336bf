// What the host hands guest-init (/spec.json in the initramfs): the workload's
// RunSpec as it is to run inside the guest, plus the guest's own plan: the
// volume shares to mount and the network card to configure. Nothing in it
// changes meaning on the way: the host's paths stay on the host (they become
// shares, contract/plan.hpp), the workload's `net` is what the container
// gets inside the guest.
#pragma once
#include <string>
#include <vector>

#include "container/spec.hpp"

namespace hvrun::contract {

// Volume i is the 9p share volume_tag(i) (contract/plan.hpp); guest-init
// mounts it and binds it (or, for a file volume, the one file in it) at
// `target` in the container.
struct Volume {
  std::string target;  // path inside the container (absolute)
  bool readonly = false;
  bool file = false;   // a single host file: the share holds it as kVolumeFileName
};

// The guest's network card (on a tap on the host's bridge), as guest-init
// sets it up before the workload starts.
struct GuestNetwork {
  std::string mac;              // finds the card ("": the only non-loopback one)
  std::string ifname = "eth0";  // its name in the guest
  std::string address;          // "10.66.0.5"
  int prefix = 0;
  std::string gateway;          // default route via ("": none)
  int mtu = 1500;
};

struct GuestSpec {
  // The workload. Its rootfs fields (lowerdirs: paths inside the image disk,
  // "" for its root) and mounts are left to guest-init; `net` is "none" (own
  // netns, lo only) or "host" (the guest's network, set up from `network`);
  // netcfg writes /etc/hosts and resolv.conf.
  container::RunSpec workload;
  std::vector<Volume> volumes;  // share i = volumes[i]
  bool hosts_share = false;     // the live /etc/hosts share (kHostsShareTag)
  bool has_network = false;     // configure `network` before the workload starts
  GuestNetwork network;
  // Networks it was connected to after its create (hvrun network connect
  // while it was not running): a card each, found by its MAC, with its
  // address and no route beyond its subnet (eth1...).
  std::vector<GuestNetwork> more_networks;
};

// The GuestSpec for a host RunSpec whose mounts are `volumes` (one per
// spec.mounts entry, in order; the engine decides which are files): the
// host's rootfs, cgroup and mount paths dropped, net "bridge" (a tap on the
// host's bridge) made the guest's network plan with the workload on it, the
// live hosts file made the hosts share. Throws hvrun::Error for more volumes
// than the plan has slots (kMaxVolumes), a count that does not match
// spec.mounts, or a net mode a VM cannot have ("host").
GuestSpec make_guest_spec(const container::RunSpec& host_spec, std::vector<Volume> volumes);

std::string to_json(const GuestSpec& g);
// A card's plan alone (a restored clone's new address: control.hpp's
// RestoredMsg). parse throws hvrun::Error saying what is wrong.
std::string to_json(const GuestNetwork& n);
GuestNetwork parse_guest_network(const std::string& text);

// The spec.json of a template VM (engine/vm_template.hpp): its guest-init
// prepares, asks to be saved (kTemplateReadyPort) and, once restored, reads
// its GuestSpec from the control channel (control.hpp's SpecMsg).
inline constexpr const char* kTemplateSpecJson = "{\"template\":true}";
bool is_template_spec(const std::string& text);
// Throws hvrun::Error saying what is wrong ("spec.json is not valid JSON: ...").
GuestSpec parse_guest_spec(const std::string& text);

}  // namespace hvrun::contract
