// hvrun networks end to end. Every test builds its networks inside a network
// namespace of its own (`ip netns add`) and runs hvrun there (nsenter --net),
// so no packet
// leaves it; each has its own store root. The namespace goes at the end.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.hpp"
#include "util/fs.hpp"

namespace hvrun::test {
namespace {

std::atomic<int> g_ns_counter{0};

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class Network : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    if (run({"ip", "netns", "list"}).code != 0) GTEST_SKIP() << "no `ip netns` here";
    StoreFixture::SetUp();
    ns_ = "hvt" + std::to_string(::getpid()) + "-" + std::to_string(g_ns_counter++);
    Result r = run({"ip", "netns", "add", ns_});
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_EQ(in_ns({"ip", "link", "set", "lo", "up"}).code, 0);
  }
  void TearDown() override {
    if (!ns_.empty()) {
      Result ps = nv({"ps", "-aq"});
      std::istringstream in(ps.out);
      std::string id;
      while (in >> id) nv({"rm", "-f", id});
    }
    StoreFixture::TearDown();
    if (!ns_.empty()) run({"ip", "netns", "del", ns_});
  }
  // A command inside the test's namespace. nsenter --net rather than
  // `ip netns exec`, which also remounts /sys and so hides the cgroup fs.
  Result in_ns(std::vector<std::string> argv, int timeout_s = 60) {
    argv.insert(argv.begin(), {"nsenter", "--net=/run/netns/" + ns_});
    return run(argv, "", timeout_s);
  }
  // hvrun --root ROOT ARGS inside the test's namespace, with hvrun's own
  // default network (the harness sets HVRUN_NETWORK=none for other tests).
  Result nv(std::vector<std::string> args, int timeout_s = 60) {
    args.insert(args.begin(), {"env", "-u", "HVRUN_NETWORK", hvrun_bin(), "--root", root()});
    return in_ns(args, timeout_s);
  }
  nlohmann::json state(const std::string& id) {
    std::ifstream f(root() + "/containers/" + id + "/state.json");
    return nlohmann::json::parse(f, nullptr, false);
  }
  size_t lease_files(const std::string& net = "hvrun") {
    size_t n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(root() + "/networks/" + net + "/leases", ec);
         it != std::filesystem::directory_iterator(); ++it)
      ++n;
    return n;
  }
  // `sh -c SCRIPT` retried until it succeeds (a server may still be starting).
  static std::string retry(const std::string& script) {
    return "for i in $(seq 100); do if out=$(" + script + ") && [ -n \"$out\" ]; then echo \"$out\"; exit 0; fi; "
           "sleep 0.1; done; exit 1";
  }
  std::string ns_;
};

TEST_F(Network, TwoContainersExchangeDataOverTcpByName) {
  // The server reads the client's line before it answers: with `echo pong | nc -l`
  // it would answer and close at once, and a client whose `echo` had not yet run
  // would see that close and exit without ever sending its line.
  Result srv = nv({"run", "-d", "--name", "srv", "busybox", "nc", "-l", "-p", "7000", "-e", "sh", "-c",
                   "read l; echo \"srv-got:$l\" >&2; echo pong-from-srv"});
  ASSERT_EQ(srv.code, 0) << srv.err;
  Result cli = nv({"run", "--rm", "--name", "cli", "busybox", "sh", "-c", retry("echo ping-from-cli | nc srv 7000")});
  EXPECT_EQ(cli.code, 0) << cli.err;
  EXPECT_NE(cli.out.find("pong-from-srv"), std::string::npos) << cli.out << cli.err;
  // The server's output reaches its log through its monitor: give it a moment.
  Result logs;
  for (int i = 0; i < 50; ++i) {
    logs = nv({"logs", "srv"});
    if (logs.err.find("srv-got:ping-from-cli") != std::string::npos) break;
    usleep(100000);
  }
  EXPECT_NE(logs.err.find("srv-got:ping-from-cli"), std::string::npos) << logs.out << logs.err;
}

TEST_F(Network, WithoutNetAContainerGetsEth0AnAddressADefaultRouteAndHostnameI) {
  Result r = nv({"run", "--rm", "--hostname", "box1", "busybox", "sh", "-c",
                 "ip -o -4 addr show eth0; ip route; hostname -i; cat /etc/resolv.conf >/dev/null && echo resolv-ok"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(inet (10\.66\.\d+\.\d+)/16)"))) << r.out;
  std::string addr = m[1];
  EXPECT_NE(r.out.find("default via 10.66.0.1 dev eth0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n" + addr + "\n"), std::string::npos) << "hostname -i: " << r.out;
  EXPECT_NE(r.out.find("resolv-ok"), std::string::npos);
  // The gateway lives on the default bridge in the namespace.
  Result br = in_ns({"ip", "-o", "-4", "addr", "show", "hvrun0"});
  EXPECT_NE(br.out.find("10.66.0.1/16"), std::string::npos) << br.out << br.err;
}

TEST_F(Network, PublishedPortAnswersFromTheNamespaceLoopbackAndHvrunPortSaysWhere) {
  Result srv = nv({"run", "-d", "-p", "127.0.0.1:18080:7000", "busybox", "sh", "-c",
                   "while :; do echo hello-published | nc -l -p 7000; done"});
  ASSERT_EQ(srv.code, 0) << srv.err;
  Result c = in_ns({"sh", "-c", retry("busybox nc 127.0.0.1 18080 </dev/null")});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("hello-published"), std::string::npos) << c.out;
  // hvrun port says so, as docker port would.
  const std::string id = trim(srv.out);
  EXPECT_EQ(nv({"port", id}).out, "7000/tcp -> 127.0.0.1:18080\n");
  EXPECT_EQ(nv({"port", id, "7000"}).out, "127.0.0.1:18080\n");
  Result none = nv({"port", id, "7001/udp"});
  EXPECT_EQ(none.code, 125);
  EXPECT_NE(none.err.find("no public port '7001/udp'"), std::string::npos) << none.err;
}

TEST_F(Network, PublishAllAndAPortWithoutHostPortGetFreeHostPortsThatAnswer) {
  ASSERT_EQ(nv({"create", "--name", "src", "busybox", "true"}).code, 0);
  ASSERT_EQ(nv({"commit", "-c", "EXPOSE 7000/tcp 7001/udp", "src", "exposing:1"}).code, 0);
  Result srv = nv({"run", "-d", "-P", "-p", "127.0.0.1::7002", "--name", "pp", "exposing:1", "sh", "-c",
                   "for p in 7000 7002; do (while :; do echo hello-$p | nc -l -p $p; done) & done; wait"});
  ASSERT_EQ(srv.code, 0) << srv.err;
  // Every exposed port and the -p one, each on a host port the kernel had free.
  const std::string ports = nv({"port", "pp"}).out;
  std::map<std::string, std::string> where;
  std::istringstream in(ports);
  for (std::string line; std::getline(in, line);) where[line.substr(0, line.find(' '))] = line.substr(line.rfind(' ') + 1);
  ASSERT_EQ(where.size(), 3u) << ports;
  for (const char* p : {"7000/tcp", "7001/udp", "7002/tcp"}) {
    ASSERT_TRUE(where.count(p)) << p << " in " << ports;
    const std::string hostport = where[p].substr(where[p].rfind(':') + 1);
    EXPECT_GT(std::stoi(hostport), 0) << ports;
  }
  EXPECT_EQ(where["7002/tcp"].rfind("127.0.0.1:", 0), 0u) << ports;
  for (const char* p : {"7000", "7002"}) {
    const std::string& at = where[std::string(p) + "/tcp"];
    Result c = in_ns({"sh", "-c", retry("busybox nc 127.0.0.1 " + at.substr(at.rfind(':') + 1) + " </dev/null")});
    EXPECT_NE(c.out.find(std::string("hello-") + p), std::string::npos) << p << ": " << c.out << c.err;
  }
  EXPECT_EQ(nv({"inspect", "-f", "{{.Config.Image}}", "pp"}).out, "exposing:1\n");
}

TEST_F(Network, PublishedUdpPortRelaysDatagramsBothWays) {
  if (run({"python3", "-c", "pass"}).code != 0) GTEST_SKIP() << "needs python3 (busybox nc has no -u)";
  Result d = nv({"run", "-d", "-p", "127.0.0.1:18053:53/udp", "busybox", "sleep", "60"});
  ASSERT_EQ(d.code, 0) << d.err;
  int pid = state(trim(d.out)).value("pid", 0);
  ASSERT_GT(pid, 0);
  // A UDP echo server in the container's network namespace (the host's
  // python3: busybox has no UDP server), answering "got-<datagram>".
  std::thread server([&] {
    run({"nsenter", "-t", std::to_string(pid), "-n", "python3", "-c",
         "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',53))\n"
         "s.settimeout(20)\nd,a=s.recvfrom(100)\ns.sendto(b'got-'+d,a)"},
        "", 30);
  });
  Result c = in_ns({"python3", "-c",
                    "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(0.2)\n"
                    "for i in range(100):\n"
                    "  s.sendto(b'dgram',('127.0.0.1',18053))\n"
                    "  try:\n    print(s.recv(100).decode()); break\n  except socket.timeout: pass\n"});
  server.join();
  EXPECT_NE(c.out.find("got-dgram"), std::string::npos) << c.out << c.err;
}

TEST_F(Network, AddHostAndDnsFlagsReachHostsAndResolvConfAndSurviveMembersComingAndGoing) {
  Result b = nv({"run", "--rm", "--add-host", "db.example:192.0.2.9", "--add-host", "v6=2001:db8::7", "--add-host",
                 "gw:host-gateway", "--dns", "198.51.100.1", "--dns-search", "corp.example", "--dns-option", "ndots:2",
                 "busybox", "sh", "-c", "grep -v -e localhost -e ip6- /etc/hosts; cat /etc/resolv.conf; ip route | grep default"});
  ASSERT_EQ(b.code, 0) << b.err;
  // host-gateway: the bridge network's gateway, the container's default route.
  const size_t via = b.out.find("default via ");
  ASSERT_NE(via, std::string::npos) << b.out;
  const std::string gw = b.out.substr(via + 12, b.out.find(' ', via + 12) - via - 12);
  EXPECT_EQ(b.out.rfind("192.0.2.9\tdb.example\n2001:db8::7\tv6\n" + gw + "\tgw\n", 0), 0u) << b.out;
  EXPECT_NE(b.out.find("nameserver 198.51.100.1\nsearch corp.example\noptions ndots:2\n"), std::string::npos) << b.out;
  // The live /etc/hosts is rewritten as members join: the --add-host line stays.
  ASSERT_EQ(nv({"run", "-d", "--name", "first", "--add-host", "db:192.0.2.9", "busybox", "sleep", "300"}).code, 0);
  ASSERT_EQ(nv({"run", "-d", "--name", "second", "busybox", "sleep", "300"}).code, 0);
  Result hosts = nv({"exec", "first", "cat", "/etc/hosts"});
  EXPECT_NE(hosts.out.find("192.0.2.9\tdb\n"), std::string::npos) << hosts.out;
  EXPECT_NE(hosts.out.find(" second\n"), std::string::npos) << hosts.out;
  EXPECT_EQ(nv({"inspect", "-f", "{{.HostConfig.ExtraHosts}}", "first"}).out, "[db:192.0.2.9]\n");
}

TEST_F(Network, NetNoneSeesOnlyLoopback) {
  Result r = nv({"run", "--rm", "--net", "none", "busybox", "cat", "/proc/net/dev"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("lo:"), std::string::npos) << r.out;
  EXPECT_EQ(lines(r.out), 3u) << r.out;  // two header lines + lo
}

TEST_F(Network, ContainerCannotSeeAnotherContainersOrTheHostsInterfaces) {
  Result a = nv({"run", "-d", "--name", "a", "busybox", "sleep", "60"});
  ASSERT_EQ(a.code, 0) << a.err;
  Result b = nv({"run", "--rm", "busybox", "cat", "/proc/net/dev"});
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(lines(b.out), 4u) << b.out;  // headers, lo, eth0
  EXPECT_NE(b.out.find("eth0:"), std::string::npos);
  EXPECT_EQ(b.out.find("hv"), std::string::npos) << b.out;  // no bridge, no host-side veths
  // ...while the namespace's host side has a's veth on the bridge.
  Result links = in_ns({"ip", "-o", "link", "show", "master", "hvrun0"});
  EXPECT_NE(links.out.find("hv" + trim(a.out).substr(0, 12)), std::string::npos) << links.out;
}

TEST_F(Network, TwentyParallelRunsGetTwentyDistinctAddresses) {
  std::vector<std::thread> ts;
  std::vector<Result> rs(20);
  for (int i = 0; i < 20; ++i)
    ts.emplace_back([&, i] { rs[i] = nv({"run", "busybox", "ip", "-o", "-4", "addr", "show", "eth0"}, 120); });
  for (auto& t : ts) t.join();
  std::set<std::string> addrs;
  for (auto& r : rs) {
    ASSERT_EQ(r.code, 0) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(inet (10\.66\.\d+\.\d+)/16)"))) << r.out;
    addrs.insert(m[1]);
  }
  EXPECT_EQ(addrs.size(), 20u);
  EXPECT_EQ(lease_files(), 20u);
}

TEST_F(Network, KillNineOfTheMonitorLeaksNothingAfterRmF) {
  Result d = nv({"run", "-d", "-p", "127.0.0.1:18081:7000", "busybox", "sleep", "60"});
  ASSERT_EQ(d.code, 0) << d.err;
  std::string id = trim(d.out);
  auto st = state(id);
  int mon = st.value("monitor_pid", 0), pid = st.value("pid", 0);
  ASSERT_GT(mon, 0);
  ASSERT_EQ(::kill(mon, SIGKILL), 0);
  EXPECT_EQ(lease_files(), 1u);
  Result rm = nv({"rm", "-f", id});
  EXPECT_EQ(rm.code, 0) << rm.err;
  for (int i = 0; i < 50 && ::kill(pid, 0) == 0; ++i) ::usleep(100000);
  EXPECT_EQ(lease_files(), 0u);
  Result links = in_ns({"ip", "-o", "link"});
  EXPECT_EQ(links.out.find("hv" + id.substr(0, 12)), std::string::npos) << links.out;
  // The port is free again.
  Result again = nv({"run", "--rm", "-p", "127.0.0.1:18081:7000", "busybox", "true"});
  EXPECT_EQ(again.code, 0) << again.err;
}

TEST_F(Network, KillNineOfTheWorkloadThenRmFReleasesTheLease) {
  Result d = nv({"run", "-d", "busybox", "sleep", "60"});
  ASSERT_EQ(d.code, 0) << d.err;
  std::string id = trim(d.out);
  ASSERT_EQ(::kill(state(id).value("pid", 0), SIGKILL), 0);
  EXPECT_EQ(nv({"rm", "-f", id}).code, 0);
  EXPECT_EQ(lease_files(), 0u);
  EXPECT_EQ(in_ns({"ip", "-o", "link"}).out.find("hv" + id.substr(0, 12)), std::string::npos);
}

TEST_F(Network, UserNetworkCreateJoinInspectRm) {
  Result c = nv({"network", "create", "backend", "--subnet", "10.90.0.0/24"});
  ASSERT_EQ(c.code, 0) << c.err;
  Result ls = nv({"network", "ls"});
  EXPECT_NE(ls.out.find("backend"), std::string::npos);
  EXPECT_NE(ls.out.find("10.90.0.0/24"), std::string::npos);
  EXPECT_NE(ls.out.find("10.66.0.0/16"), std::string::npos) << ls.out;  // the default one
  Result d = nv({"run", "-d", "--name", "db", "--net", "backend", "busybox", "sleep", "60"});
  ASSERT_EQ(d.code, 0) << d.err;
  Result r = nv({"run", "--rm", "--net", "backend", "busybox", "sh", "-c", "ip -o -4 addr show eth0; cat /etc/hosts"});
  EXPECT_NE(r.out.find("inet 10.90.0.3/24"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("10.90.0.2\t"), std::string::npos) << r.out;  // db, by name
  EXPECT_NE(r.out.find(" db\n"), std::string::npos) << r.out;
  auto j = nlohmann::json::parse(nv({"network", "inspect", "backend"}).out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << j;
  EXPECT_EQ(j[0]["subnet"], "10.90.0.0/24");
  EXPECT_EQ(j[0]["containers"].size(), 1u);
  auto ij = nlohmann::json::parse(nv({"inspect", "db"}).out, nullptr, false);
  ASSERT_TRUE(ij.is_array()) << ij;
  EXPECT_EQ(ij[0]["NetworkSettings"]["IPAddress"], "10.90.0.2");
  EXPECT_EQ(ij[0]["NetworkSettings"]["Gateway"], "10.90.0.1");
  EXPECT_EQ(ij[0]["HostConfig"]["NetworkMode"], "backend");
  EXPECT_EQ(nv({"rm", "-f", "db"}).code, 0);
  Result rm = nv({"network", "rm", "backend"});
  EXPECT_EQ(rm.code, 0) << rm.err;
  EXPECT_NE(nv({"network", "inspect", "backend"}).code, 0);
}

TEST_F(Network, ARunningContainersHostsGainsALaterMemberByNameAndLosesItAfterRm) {
  ASSERT_EQ(nv({"run", "-d", "--name", "first", "busybox", "sleep", "60"}).code, 0);
  Result second = nv({"run", "-d", "--name", "second", "busybox", "sleep", "60"});
  ASSERT_EQ(second.code, 0) << second.err;
  auto ij = nlohmann::json::parse(nv({"inspect", "second"}).out, nullptr, false);
  ASSERT_TRUE(ij.is_array()) << ij;
  std::string addr = ij[0]["NetworkSettings"].value("IPAddress", "");
  ASSERT_FALSE(addr.empty()) << ij;
  // `first` started before `second` existed; its /etc/hosts has it now.
  Result h = nv({"exec", "first", "cat", "/etc/hosts"});
  ASSERT_EQ(h.code, 0) << h.err;
  EXPECT_NE(h.out.find(addr + "\t"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find(" second\n"), std::string::npos) << h.out;
  Result ping = nv({"exec", "first", "ping", "-c", "1", "-W", "5", "second"});
  EXPECT_EQ(ping.code, 0) << ping.out << ping.err;
  EXPECT_NE(ping.out.find(addr), std::string::npos) << ping.out;
  ASSERT_EQ(nv({"rm", "-f", "second"}).code, 0);
  h = nv({"exec", "first", "cat", "/etc/hosts"});
  EXPECT_EQ(h.out.find("second"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find(" first\n"), std::string::npos) << "its own line stays: " << h.out;
}

TEST_F(Network, ConnectGivesARunningContainerEth1OnAnotherNetworkThatSurvivesARestartAndDisconnectTakesItAway) {
  ASSERT_EQ(nv({"network", "create", "backend", "--subnet", "10.90.0.0/24"}).code, 0);
  ASSERT_EQ(nv({"run", "-d", "--name", "db", "--net", "backend", "busybox", "sleep", "120"}).code, 0);
  ASSERT_EQ(nv({"run", "-d", "--name", "app", "busybox", "sleep", "120"}).code, 0);
  // Before: app (default network) does not know db.
  Result before = nv({"exec", "app", "cat", "/etc/hosts"});
  ASSERT_EQ(before.code, 0) << before.err;
  EXPECT_EQ(before.out.find(" db\n"), std::string::npos) << before.out;
  Result c = nv({"network", "connect", "--alias", "api", "backend", "app"});
  ASSERT_EQ(c.code, 0) << c.err;
  Result a = nv({"exec", "app", "ip", "-o", "-4", "addr"});
  EXPECT_NE(a.out.find("eth0    inet 10.66."), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("eth1    inet 10.90.0.3/24"), std::string::npos) << a.out;
  // The default route stays eth0's.
  EXPECT_NE(nv({"exec", "app", "ip", "route"}).out.find("default via 10.66.0.1 dev eth0"), std::string::npos);
  Result ping = nv({"exec", "app", "ping", "-c", "1", "-W", "5", "db"});
  EXPECT_EQ(ping.code, 0) << ping.out << ping.err;
  EXPECT_NE(ping.out.find("10.90.0.2"), std::string::npos) << ping.out;
  // db reaches app by its name and its alias, at its address on backend.
  Result h = nv({"exec", "db", "cat", "/etc/hosts"});
  EXPECT_NE(h.out.find("10.90.0.3\t"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find(" app api\n"), std::string::npos) << h.out;
  EXPECT_EQ(nv({"exec", "db", "ping", "-c", "1", "-W", "5", "api"}).code, 0);
  auto ij = nlohmann::json::parse(nv({"inspect", "app"}).out, nullptr, false);
  ASSERT_TRUE(ij.is_array()) << ij;
  const auto& nets = ij[0]["NetworkSettings"]["Networks"];
  EXPECT_EQ(nets["backend"]["IPAddress"], "10.90.0.3") << nets;
  EXPECT_EQ(nets["backend"]["Aliases"], nlohmann::json::array({"api"})) << nets;
  EXPECT_TRUE(nets.contains("hvrun")) << nets;
  // An alias that is no host name, a second connect to the same network and
  // leaving the one it was made on are refused.
  Result bad = nv({"network", "connect", "--alias", "a\vb", "backend", "db"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("invalid alias"), std::string::npos) << bad.err;
  Result again = nv({"network", "connect", "backend", "app"});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("already connected to network backend"), std::string::npos) << again.err;
  Result first = nv({"network", "disconnect", "hvrun", "app"});
  EXPECT_NE(first.code, 0);
  EXPECT_NE(first.err.find("cannot disconnect it"), std::string::npos) << first.err;
  // A restart wires eth1 again (the connection lives in the network store).
  ASSERT_EQ(nv({"restart", "-t", "0", "app"}).code, 0);
  EXPECT_NE(nv({"exec", "app", "ip", "-o", "-4", "addr"}).out.find("eth1    inet 10.90.0.3/24"), std::string::npos);
  EXPECT_EQ(nv({"exec", "app", "ping", "-c", "1", "-W", "5", "db"}).code, 0);
  // Disconnect: eth1, its host veth, its lease and db's line for it go.
  Result d = nv({"network", "disconnect", "backend", "app"});
  ASSERT_EQ(d.code, 0) << d.err;
  Result addrs = nv({"exec", "app", "ip", "-o", "-4", "addr"});
  ASSERT_EQ(addrs.code, 0) << addrs.err;
  EXPECT_NE(addrs.out.find("eth0"), std::string::npos) << addrs.out;
  EXPECT_EQ(addrs.out.find("eth1"), std::string::npos) << addrs.out;
  Result links = in_ns({"ip", "-o", "link"});
  ASSERT_EQ(links.code, 0) << links.err;
  EXPECT_NE(links.out.find("hv"), std::string::npos) << links.out;  // eth0's host end stays
  EXPECT_EQ(links.out.find("hx1"), std::string::npos) << links.out;
  EXPECT_EQ(lease_files("backend"), 1u);
  // Neither side's /etc/hosts keeps the other.
  Result dbh = nv({"exec", "db", "cat", "/etc/hosts"});
  ASSERT_EQ(dbh.code, 0) << dbh.err;
  EXPECT_NE(dbh.out.find(" db\n"), std::string::npos) << dbh.out;
  EXPECT_EQ(dbh.out.find(" app"), std::string::npos) << dbh.out;
  Result apph = nv({"exec", "app", "cat", "/etc/hosts"});
  ASSERT_EQ(apph.code, 0) << apph.err;
  EXPECT_NE(apph.out.find(" app\n"), std::string::npos) << apph.out;
  EXPECT_EQ(apph.out.find(" db\n"), std::string::npos) << apph.out;
  Result twice = nv({"network", "disconnect", "backend", "app"});
  EXPECT_NE(twice.code, 0);
  EXPECT_NE(twice.err.find("is not connected to network backend"), std::string::npos) << twice.err;
}

TEST_F(Network, AStoppedContainerConnectedLaterGetsItsEth1AtStartAndRmReleasesBothLeases) {
  ASSERT_EQ(nv({"network", "create", "backend", "--subnet", "10.90.0.0/24"}).code, 0);
  ASSERT_EQ(nv({"create", "--name", "app", "busybox", "sleep", "120"}).code, 0);
  Result c = nv({"network", "connect", "backend", "app"});
  ASSERT_EQ(c.code, 0) << c.err;
  ASSERT_EQ(nv({"start", "app"}).code, 0);
  EXPECT_NE(nv({"exec", "app", "ip", "-o", "-4", "addr"}).out.find("eth1    inet 10.90.0.2/24"), std::string::npos);
  EXPECT_NE(in_ns({"ip", "-o", "link"}).out.find("hx1"), std::string::npos);
  ASSERT_EQ(nv({"rm", "-f", "app"}).code, 0);
  EXPECT_EQ(lease_files("backend"), 0u);
  EXPECT_EQ(lease_files("hvrun"), 0u);
  Result links = in_ns({"ip", "-o", "link"});
  ASSERT_EQ(links.code, 0) << links.err;
  EXPECT_NE(links.out.find("lo:"), std::string::npos) << links.out;
  EXPECT_EQ(links.out.find("hx1"), std::string::npos) << links.out;
  // --network none has no veth to add to; nor has a missing network.
  ASSERT_EQ(nv({"run", "-d", "--name", "alone", "--network", "none", "busybox", "sleep", "60"}).code, 0);
  Result none = nv({"network", "connect", "backend", "alone"});
  EXPECT_NE(none.code, 0);
  EXPECT_NE(none.err.find("uses --network none"), std::string::npos) << none.err;
  Result missing = nv({"network", "connect", "nosuch", "alone"});
  EXPECT_NE(missing.err.find("no such network: nosuch"), std::string::npos) << missing.err;
}

TEST_F(Network, ARenamedContainerIsReachedByItsNewNameOnEveryNetworkItIsOn) {
  ASSERT_EQ(nv({"network", "create", "backend", "--subnet", "10.90.0.0/24"}).code, 0);
  ASSERT_EQ(nv({"run", "-d", "--name", "peer", "busybox", "sleep", "120"}).code, 0);
  ASSERT_EQ(nv({"run", "-d", "--name", "dbpeer", "--net", "backend", "busybox", "sleep", "120"}).code, 0);
  ASSERT_EQ(nv({"run", "-d", "--name", "old", "busybox", "sleep", "120"}).code, 0);
  ASSERT_EQ(nv({"network", "connect", "backend", "old"}).code, 0);
  Result r = nv({"rename", "old", "new"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const std::string peer : {"peer", "dbpeer"}) {
    Result h = nv({"exec", peer, "cat", "/etc/hosts"});
    EXPECT_NE(h.out.find(" new\n"), std::string::npos) << peer << ": " << h.out;
    EXPECT_EQ(h.out.find(" old\n"), std::string::npos) << peer << ": " << h.out;
    EXPECT_EQ(nv({"exec", peer, "ping", "-c", "1", "-W", "5", "new"}).code, 0) << peer;
  }
}

TEST_F(Network, PruneRemovesUnusedNetworksAndStaleLeasesButKeepsUsedOnes) {
  ASSERT_EQ(nv({"network", "create", "idle"}).code, 0);
  ASSERT_EQ(nv({"network", "create", "busy"}).code, 0);
  ASSERT_EQ(nv({"run", "-d", "--net", "busy", "busybox", "sleep", "60"}).code, 0);
  // A lease whose container record is gone (as after a crash mid-rm).
  std::ofstream(root() + "/networks/busy/leases/10.67.1.9") << R"({"address":"10.67.1.9","container":"gone"})";
  ASSERT_EQ(lease_files("busy"), 2u);
  Result p = nv({"network", "prune"});
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("idle"), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find("busy"), std::string::npos) << p.out;
  EXPECT_NE(nv({"network", "inspect", "idle"}).code, 0);
  EXPECT_EQ(nv({"network", "inspect", "busy"}).code, 0);
  EXPECT_EQ(lease_files("busy"), 1u);
}

TEST_F(Network, BadInputGetsAOneLineError) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  ASSERT_EQ(nv({"network", "create", "used", "--subnet", "10.91.0.0/24"}).code, 0);
  ASSERT_EQ(nv({"run", "-d", "--name", "user", "--net", "used", "busybox", "sleep", "60"}).code, 0);
  ASSERT_EQ(nv({"run", "-d", "--name", "holder", "-p", "127.0.0.1:18082:80", "busybox", "sleep", "60"}).code, 0);
  std::vector<Case> cases = {
      {{"network", "create", "over", "--subnet", "10.66.5.0/24"}, "overlaps network hvrun"},
      {{"network", "create", "over2", "--subnet", "10.91.0.0/16"}, "overlaps network used"},
      {{"network", "create", "bad", "--subnet", "10.92.0.1/24"}, "host bits set"},
      {{"network", "create", "used"}, "already exists"},
      {{"run", "--rm", "--net", "nosuch", "busybox", "true"}, "no such network: nosuch"},
      {{"run", "--rm", "-p", "127.0.0.1:18082:80", "busybox", "true"}, "already in use"},
      {{"run", "--rm", "-p", "80:", "busybox", "true"}, "invalid -p value \"80:\""},
      {{"run", "--rm", "-p", "1:2/sctp", "busybox", "true"}, "protocol must be tcp or udp"},
      {{"run", "--rm", "--net", "none", "-p", "1:2", "busybox", "true"}, "-p needs a bridge network"},
      {{"network", "rm", "used"}, "is in use by container user"},
      {{"network", "rm", "hvrun"}, "default network"},
      {{"network", "inspect", "nosuch"}, "no such network: nosuch"},
  };
  for (const auto& c : cases) {
    Result r = nv(c.args);
    std::string cmd;
    for (auto& a : c.args) cmd += a + " ";
    EXPECT_NE(r.code, 0) << cmd;
    EXPECT_EQ(lines(r.err), 1u) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << cmd << ": " << r.err;
  }
  // Failed runs leave no record and no lease behind (only user and holder remain).
  EXPECT_EQ(lease_files("hvrun"), 1u);
  EXPECT_EQ(lease_files("used"), 1u);
}

TEST_F(Network, TheDefaultNetworkTakesTheNextFreeRangeWhereTheHostAlreadyUsesItsOwn) {
  // Another runtime (say) already holds 10.66.0.0/16 in this namespace, on a bridge of its own.
  ASSERT_EQ(in_ns({"ip", "link", "add", "other0", "type", "bridge"}).code, 0);
  ASSERT_EQ(in_ns({"ip", "addr", "add", "10.66.0.1/16", "dev", "other0"}).code, 0);
  ASSERT_EQ(in_ns({"ip", "link", "set", "other0", "up"}).code, 0);
  ASSERT_EQ(in_ns({"ip", "route", "add", "10.67.3.0/24", "dev", "other0"}).code, 0);
  Result ls = nv({"network", "inspect", "hvrun"});
  ASSERT_EQ(ls.code, 0) << ls.err;
  EXPECT_NE(ls.out.find("\"subnet\": \"10.65.0.0/16\""), std::string::npos) << ls.out;
  Result r = nv({"run", "--rm", "busybox", "ip", "route"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("default via 10.65.0.1 dev eth0"), std::string::npos) << r.out;
  // A subnet the host already routes is refused in one line; the pool skips it.
  Result c = nv({"network", "create", "clash", "--subnet", "10.67.3.128/25"});
  EXPECT_NE(c.code, 0);
  EXPECT_EQ(lines(c.err), 1u) << c.err;
  EXPECT_NE(c.err.find("overlaps this host's 10.67.3.0/24 on other0"), std::string::npos) << c.err;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(nv({"network", "create", "n" + std::to_string(i)}).code, 0);
  Result n3 = nv({"network", "inspect", "n3"});
  EXPECT_NE(n3.out.find("\"subnet\": \"10.67.4.0/24\""), std::string::npos) << n3.out;
}

// Docker's ps --filter network=NAME (created on it, or connected to it
// since) and exited=CODE.
TEST_F(Network, PsFiltersByNetworkAndByExitCode) {
  ASSERT_EQ(nv({"network", "create", "front", "--subnet", "10.95.0.0/24"}).code, 0);
  ASSERT_EQ(nv({"create", "--net", "front", "--name", "on-front", "busybox", "true"}).code, 0);
  ASSERT_EQ(nv({"create", "--name", "joined", "busybox", "true"}).code, 0);
  ASSERT_EQ(nv({"run", "--name", "three", "busybox", "sh", "-c", "exit 3"}).code, 3);
  ASSERT_EQ(nv({"network", "connect", "front", "joined"}).code, 0);
  auto names = [&](const std::string& filter) {
    Result r = nv({"ps", "-a", "--filter", filter, "--format", "{{.Names}}"});
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<std::string> out;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(names("network=front"), (std::vector<std::string>{"joined", "on-front"}));
  EXPECT_EQ(names("network=hvrun"), (std::vector<std::string>{"joined", "three"}));
  EXPECT_EQ(names("exited=3"), (std::vector<std::string>{"three"}));
  EXPECT_TRUE(names("exited=0").empty());
  Result bad = nv({"ps", "-a", "--filter", "exited=x"});
  EXPECT_EQ(bad.code, 125);
  EXPECT_EQ(trim(bad.err), "hvrun: invalid filter \"exited=x\": an exit code is a number 0-255");
}

// network connect of a microVM that is not running (created, or stopped):
// its next start gives it a card more on that network (no hot-plug, so a
// running one is refused: VmE2E's vm-two-networks scenario boots it). Here
// no guest boots: HVRUN_FORCE_VM and a stand-in VMM that keeps its launch
// config, with whether each card's tap fd reached it open, and ends; what
// the guest was asked to configure is the spec.json in the VM's initramfs.
TEST_F(Network, NetworkConnectOfAStoppedMicroVmGivesItsNextStartACardOnThatNetwork) {
  TempDir t;
  const std::string vmm = t.path() + "/fake-vmm";
  write_file_atomic(vmm, "#!/usr/bin/python3\nimport json, os, sys\n"
                         "j = json.load(open('/proc/self/fd/' + sys.argv[2]))\n"
                         "for n in j['nics']:\n"
                         "    try: n['fd_is'] = os.readlink('/proc/self/fd/%d' % n['tap_fd'])\n"
                         "    except OSError as e: n['fd_is'] = str(e)\n"
                         "json.dump(j, open('" + t.path() + "/launch.json', 'w'))\nsys.exit(1)\n");
  ASSERT_EQ(::chmod(vmm.c_str(), 0755), 0);
  auto nvm = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"env", "-u", "HVRUN_NETWORK", "HVRUN_FORCE_VM=1", "HVRUN_VMM=" + vmm,
                               "HVRUN_VM_TEMPLATE=off", hvrun_bin(), "--root", root()});
    return in_ns(args);
  };
  ASSERT_EQ(nv({"network", "create", "front", "--subnet", "10.91.0.0/24"}).code, 0);
  ASSERT_EQ(nv({"network", "create", "back", "--subnet", "10.92.0.0/24"}).code, 0);
  Result c = nvm({"create", "--vm", "--net", "front", "--name", "two", "busybox", "true"});
  ASSERT_EQ(c.code, 0) << c.err;
  const std::string id = trim(c.out);
  Result con = nv({"network", "connect", "back", "two"});
  ASSERT_EQ(con.code, 0) << con.err;
  auto ij = nlohmann::json::parse(nv({"inspect", "two"}).out, nullptr, false);
  ASSERT_TRUE(ij.is_array()) << ij;
  const auto& nets = ij[0]["NetworkSettings"]["Networks"];
  ASSERT_TRUE(nets.contains("back")) << nets;
  const std::string back_ip = nets["back"].value("IPAddress", "");
  const std::string back_mac = nets["back"].value("MacAddress", "");
  EXPECT_EQ(back_ip.rfind("10.92.0.", 0), 0u) << nets;
  // Its start: the stand-in VMM ends at once, so the start fails; what it
  // was handed is what counts.
  // Its launch config, once the stand-in has written it.
  auto launch_of = [&](const Result& start) {
    for (int i = 0; i < 100; ++i, ::usleep(100 * 1000)) {
      if (!path_exists(t.path() + "/launch.json")) continue;
      auto j = nlohmann::json::parse(read_file(t.path() + "/launch.json"), nullptr, false);
      if (j.is_object()) return j;
    }
    ADD_FAILURE() << "the stand-in VMM kept no launch config: " << start.err;
    return nlohmann::json();
  };
  auto launch = launch_of(nvm({"start", "two"}));
  ASSERT_TRUE(launch.is_object());
  const auto& nics = launch["nics"];
  ASSERT_EQ(nics.size(), 2u) << "want a card for front and one for back: " << launch;
  EXPECT_EQ(nics[1].value("mac", ""), back_mac);
  for (const auto& n : nics) EXPECT_EQ(n.value("fd_is", ""), "/dev/net/tun") << "a card's tap did not reach the VMM: " << n;
  // The guest's plan, in the initramfs: eth1 with back's address, no route.
  const std::string cpio = root() + "/containers/" + id + "/initramfs.cpio";
  Result spec = run({"sh", "-c", "cd '" + t.path() + "' && cpio -i --quiet spec.json < '" + cpio + "' && cat spec.json"});
  auto g = nlohmann::json::parse(spec.out, nullptr, false);
  ASSERT_TRUE(g.is_object()) << spec.out << spec.err;
  EXPECT_EQ(g["network"].value("address", "").rfind("10.91.0.", 0), 0u) << g["network"];
  ASSERT_EQ(g["more_networks"].size(), 1u) << g;
  EXPECT_EQ(g["more_networks"][0].value("ifname", ""), "eth1");
  EXPECT_EQ(g["more_networks"][0].value("address", ""), back_ip);
  EXPECT_EQ(g["more_networks"][0].value("prefix", 0), 24);
  EXPECT_EQ(g["more_networks"][0].value("gateway", "x"), "");
  EXPECT_EQ(g["more_networks"][0].value("mac", ""), back_mac);
  // Disconnected again (it is not running): the next start has one card.
  Result dis = nv({"network", "disconnect", "back", "two"});
  ASSERT_EQ(dis.code, 0) << dis.err;
  ::unlink((t.path() + "/launch.json").c_str());
  launch = launch_of(nvm({"start", "two"}));
  ASSERT_TRUE(launch.is_object());
  EXPECT_EQ(launch["nics"].size(), 1u) << launch;
  EXPECT_EQ(lease_files("back"), 0u);
  EXPECT_EQ(nv({"rm", "-f", "two"}).code, 0);
  EXPECT_EQ(in_ns({"ip", "-o", "link", "show", "type", "tun"}).out, "") << "a tap outlived its VM";
}

}  // namespace
}  // namespace hvrun::test
