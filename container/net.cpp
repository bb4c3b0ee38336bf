#include "container/net.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "container/mounts.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/netif.hpp"

namespace hvrun::container {

namespace {

void write_in(int dirfd, const char* name, const std::string& content, const std::string& what) {
  // O_NOFOLLOW: an image's /etc/hosts symlink is replaced, not followed.
  int fd = ::openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 && (errno == ELOOP || errno == EISDIR || errno == ENXIO || errno == EACCES)) {
    ::unlinkat(dirfd, name, 0);
    fd = ::openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  }
  if (fd < 0) throw_sys("write", what);
  UniqueFd f(fd);
  write_fd(fd, content, what);
}

}  // namespace

std::string hosts_file(const std::string& address, const std::string& hostname, const std::string& name,
                       const std::vector<std::string>& others, const std::vector<std::string>& extra) {
  std::string s =
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n"
      "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
  auto add = [&](const std::string& l) {
    if (l.find('\n') == std::string::npos) s += l + "\n";
  };
  for (const auto& l : extra) add(l);
  if (!address.empty()) {
    std::string own = address + "\t" + hostname;
    if (!name.empty() && name != hostname) own += " " + name;
    add(own);
  }
  for (const auto& l : others) add(l);
  return s;
}

std::string hosts_file(const RunSpec& spec) {
  return hosts_file(spec.netcfg.address, spec.hostname, spec.name, spec.netcfg.hosts, spec.extra_hosts);
}

std::string resolv_conf(const RunSpec& spec) {
  std::string s;
  for (const auto& d : spec.dns.empty() ? spec.netcfg.dns : spec.dns)
    if (d.find('\n') == std::string::npos) s += "nameserver " + d + "\n";
  if (s.empty()) s = "# no nameservers (the host has none that a container can reach)\n";
  auto line = [&](const char* key, const std::vector<std::string>& v) {
    std::string l;
    for (const auto& w : v)
      if (w.find_first_of(" \t\n") == std::string::npos) l += (l.empty() ? "" : " ") + w;
    if (!l.empty()) s += std::string(key) + " " + l + "\n";
  };
  line("search", spec.dns_search);
  line("options", spec.dns_options);
  return s;
}

void write_network_files(int rootfd, const RunSpec& spec) {
  const bool own_address = !spec.netcfg.address.empty();
  const bool own_dns = !spec.dns.empty() || !spec.dns_search.empty() || !spec.dns_options.empty();
  if (!own_address && spec.extra_hosts.empty() && !own_dns) return;
  UniqueFd etcpath = open_in_root(rootfd, "/etc", Create::Dir);
  UniqueFd etc(::openat(etcpath.get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!etc) throw_sys("open", "/etc in the container");
  if (own_address || !spec.extra_hosts.empty()) write_in(etc.get(), "hosts", hosts_file(spec), "/etc/hosts");
  if (own_address || own_dns) write_in(etc.get(), "resolv.conf", resolv_conf(spec), "/etc/resolv.conf");
  if (!own_address) return;
  std::string h = (spec.hostname.empty() ? spec.id.substr(0, 12) : spec.hostname) + "\n";
  write_in(etc.get(), "hostname", h, "/etc/hostname");
}

void bring_up_loopback() { link_up("lo"); }

}  // namespace hvrun::container
