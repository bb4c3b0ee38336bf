#include "net/proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "util/error.hpp"

namespace hvrun::net {

namespace {

sockaddr_in addr_of(uint32_t ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(port);
  return a;
}

// One direction of a TCP relay: bytes read from `from` wait in `buf` until
// `to` takes them.
struct Half {
  std::string buf;
  bool eof = false;      // `from` reached EOF
  bool shut = false;     // we shut down `to`'s write side
};

struct TcpConn {
  UniqueFd client, backend;
  bool connected = false;
  Half up, down;  // up: client -> backend, down: backend -> client
};

struct UdpPeer {
  UniqueFd backend;  // connected to the target
  sockaddr_in client{};
  int listener = -1;
  std::chrono::steady_clock::time_point last;
};

}  // namespace

PortProxy::PortProxy(const std::vector<PortSpec>& ports, const std::string& target) {
  auto t = parse_ipv4(target);
  if (!t) throw Error("port proxy: bad target address \"" + target + "\"");
  target_ = *t;
  for (const auto& p : ports) {
    bool udp = p.proto == "udp";
    UniqueFd fd(::socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw_sys("socket");
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = addr_of(p.host_ip.empty() ? INADDR_ANY : *parse_ipv4(p.host_ip), p.host_port);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
      int e = errno;
      if (e == EADDRINUSE)
        throw Error("cannot publish " + p.str() + ": port " + std::to_string(p.host_port) + "/" + p.proto +
                    " is already in use", e);
      throw_sys("cannot publish " + p.str() + ": bind", e);
    }
    if (!udp && ::listen(fd.get(), 128) < 0) throw_sys("listen", p.str());
    listeners_.push_back({p, std::move(fd)});
  }
  stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_) throw_sys("eventfd");
}

PortProxy::~PortProxy() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (::write(stop_.get(), &one, sizeof one) < 0) {
    }
    thread_.join();
  }
}

void PortProxy::start() {
  if (listeners_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    try {
      loop();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "hvrun: port proxy stopped: %s\n", e.what());
    }
  });
}

void PortProxy::loop() {
  std::vector<std::unique_ptr<TcpConn>> conns;
  std::map<std::pair<uint32_t, uint16_t>, std::unique_ptr<UdpPeer>> peers;  // per (client addr, port)
  char buf[65536];
  auto close_half = [](int fd) { ::shutdown(fd, SHUT_WR); };
  for (;;) {
    std::vector<pollfd> p;
    enum Kind { Stop, Listen, Client, Backend, UdpBack };
    std::vector<std::pair<Kind, size_t>> who;
    auto add = [&](int fd, short ev, Kind k, size_t i) {
      p.push_back({fd, ev, 0});
      who.emplace_back(k, i);
    };
    add(stop_.get(), POLLIN, Stop, 0);
    for (size_t i = 0; i < listeners_.size(); ++i) add(listeners_[i].fd.get(), POLLIN, Listen, i);
    for (size_t i = 0; i < conns.size(); ++i) {
      auto& c = *conns[i];
      if (!c.connected) {
        add(c.backend.get(), POLLOUT, Backend, i);
        continue;
      }
      short ce = 0, be = 0;
      if (!c.up.eof && c.up.buf.size() < sizeof buf) ce |= POLLIN;
      if (!c.down.buf.empty()) ce |= POLLOUT;
      if (!c.down.eof && c.down.buf.size() < sizeof buf) be |= POLLIN;
      if (!c.up.buf.empty()) be |= POLLOUT;
      // A socket with nothing to wait for is left out (a hung-up one would
      // report POLLHUP forever).
      if (ce) add(c.client.get(), ce, Client, i);
      if (be) add(c.backend.get(), be, Backend, i);
    }
    std::vector<UdpPeer*> plist;
    for (auto& [k, u] : peers) {
      add(u->backend.get(), POLLIN, UdpBack, plist.size());
      plist.push_back(u.get());
    }
    int rc = ::poll(p.data(), p.size(), 30000);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw_sys("poll");
    }
    std::vector<bool> dead(conns.size(), false);
    for (size_t k = 0; k < p.size(); ++k) {
      if (!p[k].revents) continue;
      auto [kind, i] = who[k];
      if (kind == Stop) return;
      if (kind == Listen) {
        auto& l = listeners_[i];
        if (l.spec.proto == "tcp") {
          UniqueFd cfd(::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
          if (!cfd) continue;
          auto c = std::make_unique<TcpConn>();
          c->client = std::move(cfd);
          c->backend.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
          if (!c->backend) continue;
          sockaddr_in t = addr_of(target_, l.spec.port);
          int r = ::connect(c->backend.get(), reinterpret_cast<sockaddr*>(&t), sizeof t);
          if (r < 0 && errno != EINPROGRESS) continue;  // refused at once: drop the client
          c->connected = r == 0;
          conns.push_back(std::move(c));
          dead.push_back(false);
        } else {
          sockaddr_in from{};
          socklen_t fl = sizeof from;
          ssize_t n = ::recvfrom(l.fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
          if (n < 0) continue;
          auto key = std::make_pair(from.sin_addr.s_addr, from.sin_port);
          auto& u = peers[key];
          if (!u) {
            u = std::make_unique<UdpPeer>();
            u->backend.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
            sockaddr_in t = addr_of(target_, l.spec.port);
            if (!u->backend || ::connect(u->backend.get(), reinterpret_cast<sockaddr*>(&t), sizeof t) < 0) {
              peers.erase(key);
              continue;
            }
            u->client = from;
            u->listener = l.fd.get();
          }
          u->last = std::chrono::steady_clock::now();
          if (::send(u->backend.get(), buf, static_cast<size_t>(n), 0) < 0) {
          }
        }
        continue;
      }
      if (kind == UdpBack) {
        UdpPeer* u = plist[i];
        ssize_t n = ::recv(u->backend.get(), buf, sizeof buf, 0);
        if (n >= 0) {
          u->last = std::chrono::steady_clock::now();
          ::sendto(u->listener, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&u->client),
                   sizeof u->client);
        }
        continue;
      }
      auto& c = *conns[i];
      if (dead[i]) continue;
      if (!c.connected) {
        int err = 0;
        socklen_t el = sizeof err;
        ::getsockopt(c.backend.get(), SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) dead[i] = true;
        else c.connected = true;
        continue;
      }
      int from = kind == Client ? c.client.get() : c.backend.get();
      Half& in = kind == Client ? c.up : c.down;     // what we read from `from`
      Half& out = kind == Client ? c.down : c.up;    // what we write to `from`
      if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) {
        size_t room = sizeof buf - in.buf.size();
        ssize_t n = room ? ::read(from, buf, room) : -1;
        if (n > 0) {
          in.buf.append(buf, static_cast<size_t>(n));
        } else if (n == 0 || (room && errno != EAGAIN && errno != EINTR)) {
          if (n < 0) dead[i] = true;
          in.eof = true;
          if (p[k].revents & (POLLHUP | POLLERR)) {
            // Closed both ways: nothing more can reach it.
            out.buf.clear();
            out.eof = out.shut = true;
          }
        }
      }
      if (p[k].revents & POLLOUT && !out.buf.empty()) {
        ssize_t n = ::send(from, out.buf.data(), out.buf.size(), MSG_NOSIGNAL);
        if (n > 0) out.buf.erase(0, static_cast<size_t>(n));
        else if (n < 0 && errno != EAGAIN && errno != EINTR) dead[i] = true;
      }
    }
    // Propagate half-closes once the buffered bytes are through; a
    // connection whose both directions ended is done.
    for (size_t i = 0; i < conns.size(); ++i) {
      auto& c = *conns[i];
      if (!c.connected) continue;
      if (c.up.eof && c.up.buf.empty() && !c.up.shut) {
        close_half(c.backend.get());
        c.up.shut = true;
      }
      if (c.down.eof && c.down.buf.empty() && !c.down.shut) {
        close_half(c.client.get());
        c.down.shut = true;
      }
      if (c.up.shut && c.down.shut) dead[i] = true;
    }
    for (size_t i = conns.size(); i-- > 0;)
      if (dead[i]) conns.erase(conns.begin() + static_cast<long>(i));
    auto now = std::chrono::steady_clock::now();
    for (auto it = peers.begin(); it != peers.end();) {
      if (now - it->second->last > std::chrono::seconds(60)) it = peers.erase(it);
      else ++it;
    }
  }
}

}  // namespace hvrun::net
