// The -p userspace proxy, run by the container's monitor (a thread of it):
// listens on HOSTIP:HOSTPORT and relays each TCP connection (each UDP peer)
// to the workload's address. It lives and dies with the monitor, so a
// kill -9 of the monitor frees the port with nothing left to clean, and it
// works the same for containers and microVMs (no nftables needed).
#pragma once
#include <thread>
#include <vector>

#include "net/ipam.hpp"
#include "util/fd.hpp"

namespace hvrun::net {

class PortProxy {
 public:
  // Binds every port now (throws "port ... is already in use" and the like)
  // so a taken port fails the run before the workload starts.
  PortProxy(const std::vector<PortSpec>& ports, const std::string& target);
  ~PortProxy();  // stops the thread, closes everything
  PortProxy(const PortProxy&) = delete;
  PortProxy& operator=(const PortProxy&) = delete;
  void start();  // starts relaying (call once the workload has started)

 private:
  void loop();
  struct Listener {
    PortSpec spec;
    UniqueFd fd;
  };
  std::vector<Listener> listeners_;
  uint32_t target_ = 0;
  UniqueFd stop_;  // eventfd
  std::thread thread_;
};

}  // namespace hvrun::net
