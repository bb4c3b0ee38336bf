#include "vmm/tap.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <cstring>

#include "util/error.hpp"

namespace hvrun::vmm {
namespace {

void check_ifname(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw Error("interface name '" + name + "' must be 1-15 characters");
  if (name.find('/') != std::string::npos || name.find(' ') != std::string::npos)
    throw Error("interface name '" + name + "' holds '/' or a space");
}

ifreq make_ifreq(const std::string& name) {
  check_ifname(name);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  return ifr;
}

}  // namespace

UniqueFd open_tap(const std::string& name, std::string* actual) {
  ifreq ifr = make_ifreq(name);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw_sys("open", "/dev/net/tun");
  check_sys(::ioctl(fd.get(), TUNSETIFF, &ifr), "create tap (TUNSETIFF)", name);
  int hdr = kVnetHdrLen;
  check_sys(::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr), "set the vnet header size of tap", name);
  if (actual) *actual = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  return fd;
}

std::vector<std::string> taps_held_by(pid_t pid) {
  std::vector<std::string> out;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(proc + "/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const std::string fd = it->path().filename().string();
    std::error_code lec;
    if (std::filesystem::read_symlink(it->path(), lec).string() != "/dev/net/tun" || lec) continue;
    std::ifstream info(proc + "/fdinfo/" + fd);
    for (std::string line; std::getline(info, line);)
      if (line.rfind("iff:", 0) == 0) {
        const size_t v = line.find_first_not_of(" \t", 4);
        if (v != std::string::npos && std::find(out.begin(), out.end(), line.substr(v)) == out.end())
          out.push_back(line.substr(v));
      }
  }
  return out;
}

}  // namespace hvrun::vmm
