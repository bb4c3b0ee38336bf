#include "container/sysctl.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "container/namespaces.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::container {
namespace {

// The dotted form of a key given with dots or, as runc also takes it, with
// slashes (so that an interface name with a dot can be named:
// net/ipv4/conf/eth0.100/forwarding).
std::string dotted(const std::string& key) {
  if (key.find('/') == std::string::npos) return key;
  std::string d = key;
  std::replace(d.begin(), d.end(), '/', '.');
  return d;
}

// The file under /proc/sys: a slash form as it is, a dotted one with its
// dots as slashes.
std::string proc_path(const std::string& key) {
  std::string rel = key;
  if (key.find('/') == std::string::npos) std::replace(rel.begin(), rel.end(), '.', '/');
  return "/proc/sys/" + rel;
}

enum class Kind { Ipc, Uts, Net };

Kind kind_of(const std::string& d) {
  if (d.rfind("net.", 0) == 0) return Kind::Net;
  if (d == "kernel.domainname") return Kind::Uts;
  return Kind::Ipc;
}

}  // namespace

std::string sysctl_refusal(const std::string& key, bool own_net) {
  // Words joined by dots (or slashes): nothing that could walk out of /proc/sys.
  const bool slashes = key.find('/') != std::string::npos;
  const char sep = slashes ? '/' : '.';
  bool ok = !key.empty() && key.front() != sep && key.back() != sep &&
            key.find(std::string(2, sep)) == std::string::npos &&
            std::all_of(key.begin(), key.end(), [&](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == sep;
            });
  // A slash form's components may hold dots, but never be "." or "..".
  if (ok && slashes)
    for (size_t start = 0; start <= key.size();) {
      size_t end = key.find('/', start);
      if (end == std::string::npos) end = key.size();
      const std::string c = key.substr(start, end - start);
      if (c == "." || c == "..") ok = false;
      start = end + 1;
    }
  if (!ok) return "\"" + key + "\" is not a sysctl name";
  const std::string d = dotted(key);
  if (d == "kernel.hostname") return "\"" + key + "\" is the config's hostname: set that instead";
  static const std::array<const char*, 9> kIpcUts = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
                                                     "kernel.sem",    "kernel.shmall", "kernel.shmmax",
                                                     "kernel.shmmni", "kernel.shm_rmid_forced", "kernel.domainname"};
  if (std::find(kIpcUts.begin(), kIpcUts.end(), d) != kIpcUts.end() || d.rfind("fs.mqueue.", 0) == 0) return "";
  if (d.rfind("net.", 0) == 0)
    return own_net ? "" : "\"" + key + "\" would change the host's network: the container has no network namespace of its own";
  return "\"" + key + "\" is not kept per namespace: setting it would change the host";
}

std::string sysctl_value_refusal(const std::string& value) {
  const size_t nl = value.find('\n');
  if (value.find('\0') != std::string::npos || (nl != std::string::npos && nl + 1 != value.size()))
    return "holds a NUL or a newline inside (one value per key)";
  return "";
}

void check_sysctl_namespaces(const std::map<std::string, std::string>& sysctls, int joined_net, int joined_ipc,
                             int joined_uts) {
  for (const auto& [key, value] : sysctls) {
    const Kind k = kind_of(dotted(key));
    const bool host = (k == Kind::Net && joined_net >= 0 && is_own_namespace(joined_net, "net")) ||
                      (k == Kind::Ipc && joined_ipc >= 0 && is_own_namespace(joined_ipc, "ipc")) ||
                      (k == Kind::Uts && joined_uts >= 0 && is_own_namespace(joined_uts, "uts"));
    if (host)
      throw Error("sysctl \"" + key + "\": the namespace joined by path is the runtime's own: setting it would change the host");
  }
}

std::map<std::string, std::string> sysctls_kept_by(const std::map<std::string, std::string>& sysctls, bool net,
                                                   bool ipc, bool uts) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : sysctls) {
    const Kind k = kind_of(dotted(key));
    if ((k == Kind::Net && net) || (k == Kind::Ipc && ipc) || (k == Kind::Uts && uts)) out.emplace(key, value);
  }
  return out;
}

void apply_sysctls(const std::map<std::string, std::string>& sysctls) {
  for (const auto& [key, value] : sysctls) {
    const std::string path = proc_path(key);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw_sys("sysctl " + key, path);
    const ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0) throw_sys("sysctl " + key + " = " + value, path);
    if (size_t(n) != value.size())
      throw Error("sysctl " + key + " = " + value + ": the kernel took " + std::to_string(n) + " of " +
                  std::to_string(value.size()) + " bytes");
  }
}

}  // namespace hvrun::container
