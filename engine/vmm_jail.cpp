#include "engine/vmm_jail.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace hvrun::engine {

VmmJailChoice choose_vmm_jail() {
  VmmJailChoice c;
  if (const char* e = std::getenv("HVRUN_VMM_JAIL"); e && std::string(e) == "off") {
    c.why_not = "HVRUN_VMM_JAIL=off";
    return c;
  }
  if (::geteuid() != 0) {
    c.why_not = "hvrun is not running as root";
    return c;
  }
  c.config.enabled = true;
  if (const passwd* pw = ::getpwnam("hvrun-vmm"); pw && pw->pw_uid != 0 && pw->pw_gid != 0) {
    c.config.uid = pw->pw_uid;
    c.config.gid = pw->pw_gid;
    c.user = "hvrun-vmm";
  } else {
    c.user = "nobody";  // JailConfig's default 65534:65534
  }
  return c;
}

}  // namespace hvrun::engine
