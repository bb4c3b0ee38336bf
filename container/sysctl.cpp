#include "container/sysctl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::container {

std::string sysctl_refusal(const std::string& key, bool own_net) {
  // A name of words joined by dots: nothing that could walk out of /proc/sys.
  if (key.empty() || key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos ||
      !std::all_of(key.begin(), key.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; }))
    return "\"" + key + "\" is not a sysctl name";
  static const std::array<const char*, 10> kIpcUts = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",  "kernel.sem",
                                                      "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
                                                      "kernel.hostname", "kernel.domainname"};
  if (std::find(kIpcUts.begin(), kIpcUts.end(), key) != kIpcUts.end() || key.rfind("fs.mqueue.", 0) == 0) return "";
  if (key.rfind("net.", 0) == 0)
    return own_net ? "" : "\"" + key + "\" would change the host's network: the container has no network namespace of its own";
  return "\"" + key + "\" is not kept per namespace: setting it would change the host";
}

void apply_sysctls(const std::map<std::string, std::string>& sysctls) {
  for (const auto& [key, value] : sysctls) {
    std::string path = "/proc/sys/" + key;
    std::replace(path.begin() + 10, path.end(), '.', '/');
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw_sys("sysctl " + key, path);
    if (::write(fd.get(), value.data(), value.size()) != ssize_t(value.size()))
      throw_sys("sysctl " + key + " = " + value, path);
  }
}

}  // namespace hvrun::container
