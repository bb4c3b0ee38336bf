// The container's /etc/hosts, /etc/resolv.conf and /etc/hostname when it has
// an address on an hvrun network (spec.netcfg.address), and /etc/hosts or
// /etc/resolv.conf in any network mode when --add-host or --dns and its
// siblings ask for them (else the image's are left). Host and guest-init
// alike: written by the container process itself into its root filesystem
// (the per-container overlay upper dir) before pivot_root.
#pragma once
#include <string>

#include "container/spec.hpp"

namespace hvrun::container {

// File contents, for tests and for the writer below. `others`: the other
// members' lines ("10.88.0.3\tweb"; a line with a newline is dropped);
// `extra`: --add-host lines, before the container's own (as Docker). No
// own line without an address.
std::string hosts_file(const std::string& address, const std::string& hostname, const std::string& name,
                       const std::vector<std::string>& others, const std::vector<std::string>& extra = {});
std::string hosts_file(const RunSpec& spec);
// nameservers (spec.dns, else spec.netcfg.dns), search, options.
std::string resolv_conf(const RunSpec& spec);

// Writes them under `rootfd` (resolved inside the root, never following a
// symlink planted in the image: one there is replaced). No-op when there is
// neither an address nor an --add-host/--dns* of the user's.
void write_network_files(int rootfd, const RunSpec& spec);

// Sets `lo` up in the caller's network namespace (a fresh one has it down),
// as runc's loopback strategy and Docker's --net none do.
void bring_up_loopback();

}  // namespace hvrun::container
