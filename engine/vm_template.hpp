// Template VMs: `hvrun --vm` that starts from a booted guest instead of
// booting one (engine/vm_backend.hpp: make_template, template_dir).
//   ROOT/templates/<key>/vm.snap        the snapshot of a guest whose
//                                       guest-init waits for its spec
//   ROOT/templates/<key>/template.json  what the key was made of
//   ROOT/templates/<key>.lock           held while it is made
// <key>: sha256 of everything the snapshot depends on: the guest kernel,
// guest-init and hvrun-vmm files (path, size, mtime, inode), the guest's
// RAM and vCPUs, whether it has a network card (and the hosts share), the
// kernel command line (log level) and the template format. Anything changed is another key: a rebuilt kernel never restores
// an old template. A run restores the template onto its own disks and
// hands guest-init its spec, a fresh clock and RNG seed (vm_backend.cpp).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "container/spec.hpp"
#include "engine/vm_backend.hpp"

namespace hvrun::engine {

struct TemplateChoice {
  std::string dir;      // the template to restore ("" : boot)
  std::string why_not;  // when dir is "": why the VM boots (for --debug)
  bool made = false;    // this call made it (the first run for its key)
};

// The template for a VM run of `spec` with `assets`, made first (a whole
// boot, once per key) when there is none. Never throws: any failure is a
// cold boot, and says why.
// HVRUN_VM_TEMPLATE=off: always boot (benchmarks compare both paths).
std::string vm_templates_dir(const std::string& store_root);
// Where the formatted empty writable disk each VM copies is kept
// (VmAssets::blank_rw_disk), in vm_templates_dir.
std::string vm_blank_rw_disk(const std::string& store_root);

// What a template for `spec` with `assets` is made of (its template.json;
// its key is the hash of this): the format, each file's path, size, mtime
// and inode, RAM, vCPUs, network card, log level. Throws when a file is missing.
nlohmann::json vm_template_made_of(const VmAssets& assets, const container::RunSpec& spec);

// retry_failed: try a key whose last make failed now, not 10 minutes after.
TemplateChoice vm_template_for(const std::string& store_root, const VmAssets& assets, const container::RunSpec& spec,
                               bool retry_failed = false);

// `hvrun vm warm`: the template that `hvrun --vm` of `spec` (its memory,
// vCPUs, network card and the log level) would start from, made now when
// there is none, so that no run pays for it. Throws an Error that says why
// there is none (templates off, volumes, a make that failed, no KVM).
TemplateChoice warm_vm_template(const std::string& store_root, const container::RunSpec& spec);

// The templates in the store (`hvrun vm ls`), oldest first. current: made
// of this hvrun's guest kernel, guest-init and hvrun-vmm files and template
// format, so that a run can use it; a template that is not current is only
// disk space (`hvrun vm prune`).
struct TemplateInfo {
  std::string key;
  uint64_t memory_bytes = 0;
  unsigned vcpus = 0;
  bool network_card = false;
  std::string log_level;
  int64_t made_at = 0;     // Unix seconds
  uint64_t disk_bytes = 0; // allocated on the host
  bool current = false;
};
std::vector<TemplateInfo> list_vm_templates(const std::string& store_root);
// Removes the templates that are not current (all: every one, and the
// blank writable disk), and what failed makes left; returns the keys removed.
// Templates are made under a lock per key, which this takes too.
std::vector<std::string> prune_vm_templates(const std::string& store_root, bool all);

}  // namespace hvrun::engine
