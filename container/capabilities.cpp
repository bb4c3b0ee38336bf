#include "container/capabilities.hpp"

#include <linux/capability.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "util/error.hpp"

namespace hvrun::container {
namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool is_all(const std::string& s) { return upper(s) == "ALL" || upper(s) == "CAP_ALL"; }

int last_cap() {
  static const int last = [] {
    int c = 0;
    // PR_CAPBSET_READ fails with EINVAL past the kernel's last capability.
    while (c < 63 && ::prctl(PR_CAPBSET_READ, c + 1, 0, 0, 0) >= 0) ++c;
    return c;
  }();
  return last;
}

}  // namespace

CapSet default_capabilities() {
  const int caps[] = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,     CAP_MKNOD,
                      CAP_NET_RAW, CAP_SETGID,      CAP_SETUID,           CAP_SETFCAP,    CAP_SETPCAP,
                      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE};
  CapSet s = 0;
  for (int c : caps) s |= CapSet(1) << c;
  return s;
}

CapSet all_capabilities() {
  int last = last_cap();
  CapSet all = last >= 63 ? ~CapSet(0) : (CapSet(1) << (last + 1)) - 1;
  // ALL means all that this process holds: a root that was itself started
  // without some capabilities (a sandboxed CI runner, say) cannot give them,
  // and asking capset for them fails with EPERM.
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &hdr, data) == 0)
    all &= CapSet(data[0].permitted) | (CapSet(data[1].permitted) << 32);
  return all;
}

int capability_from_name(const std::string& name) {
  std::string n = upper(name);
  if (n.rfind("CAP_", 0) != 0) n = "CAP_" + n;
  std::string lower = n;
  for (auto& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  cap_value_t v;
  if (::cap_from_name(lower.c_str(), &v) != 0 || v < 0 || v > 63) throw Error("unknown capability " + name);
  return int(v);
}

CapSet resolve_capabilities(const std::vector<std::string>& add, const std::vector<std::string>& drop) {
  bool add_all = std::any_of(add.begin(), add.end(), is_all);
  bool drop_all = std::any_of(drop.begin(), drop.end(), is_all);
  CapSet s = add_all ? all_capabilities() : default_capabilities();
  if (drop_all) s = 0;
  for (auto& d : drop)
    if (!is_all(d)) s &= ~(CapSet(1) << capability_from_name(d));
  for (auto& a : add)
    if (!is_all(a)) s |= CapSet(1) << capability_from_name(a);
  return s & all_capabilities();
}

void drop_bounding_set(CapSet keep) {
  int last = last_cap();
  for (int c = 0; c <= last; ++c) {
    if (keep & (CapSet(1) << c)) continue;
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      throw_sys("prctl(PR_CAPBSET_DROP)", std::to_string(c));
  }
}

void keep_caps_across_setuid() { check_sys(::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)"); }

void apply_capabilities(CapSet keep) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = data[0].permitted = uint32_t(keep);
  data[1].effective = data[1].permitted = uint32_t(keep >> 32);
  check_sys(int(::syscall(SYS_capset, &hdr, data)), "capset");
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    throw_sys("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  check_sys(::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");
}

}  // namespace hvrun::container
