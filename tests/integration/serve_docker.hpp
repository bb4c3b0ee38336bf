// The fixture of the hvrun serve tests (serve_docker*_test.cpp): an
// hvrun serve on the test's own socket and store, driven by the real
// clients: Debian's docker CLI (docker.io, its client only; no dockerd
// runs), curl, docker-py (python3-docker). What they print is compared with
// what hvrun's own CLI prints for the same containers.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace hvrun::test {

inline constexpr const char* kDocker = "/usr/bin/docker";
inline constexpr const char* kPython = "/usr/bin/python3";

class ServeDocker : public StoreFixture {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (CI runs as root)";
    if (::access(kDocker, X_OK) != 0) GTEST_SKIP() << kDocker << " is missing (scripts/setup.sh installs docker.io)";
    StoreFixture::SetUp();
    sock_ = root() + "/api.sock";
    start_server();
  }
  void TearDown() override {
    stop_server();
    StoreFixture::TearDown();
  }
  void start_server(const std::vector<std::string>& extra = {}) {
    server_ = ::fork();
    ASSERT_GE(server_, 0);
    if (server_ == 0) {
      ::setpgid(0, 0);
      const std::string bin = hvrun_bin(), host = "unix://" + sock_, r = root(), log = r + "/serve.log";
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<std::string> args{bin, "--root", r, "serve", "--host", host};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (ping()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    FAIL() << "hvrun serve did not answer on " << sock_;
  }
  void stop_server(int sig = SIGTERM) {
    if (server_ <= 0) return;
    ::kill(server_, sig);
    int st = 0;
    ::waitpid(server_, &st, 0);
    server_ = 0;
  }
  bool ping() const { return run({"curl", "-sf", "--unix-socket", sock_, "http://d/_ping"}, "", 5).out == "OK"; }
  std::map<std::string, std::string> env() const {
    return {{"DOCKER_HOST", "unix://" + sock_}, {"DOCKER_CONFIG", root() + "/docker-config"}};
  }
  Result docker(const std::vector<std::string>& args, int timeout_s = 60) const {
    std::vector<std::string> argv{kDocker};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, "", timeout_s, env());
  }
  // curl -X METHOD on the API: "STATUS BODY" (a body "@FILE" is read from FILE).
  std::string api(const std::string& method, const std::string& path, const std::string& body = "") const {
    std::vector<std::string> argv{"curl", "-s", "-o", "/dev/stdout", "-w", " %{http_code}", "--unix-socket", sock_,
                                  "-X", method, "http://d" + path};
    if (!body.empty()) argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    Result r = run(argv, "", 30);
    const size_t sp = r.out.rfind(' ');
    return sp == std::string::npos ? r.out : r.out.substr(sp + 1) + " " + r.out.substr(0, sp);
  }
  // Raw bytes to the socket; what comes back before the server closes.
  std::string raw(const std::string& bytes) const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
      ::close(fd);
      return "connect failed";
    }
    (void)!::write(fd, bytes.data(), bytes.size());
    ::shutdown(fd, SHUT_WR);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return out;
  }
  std::string sock_;
  pid_t server_ = 0;
};

inline std::string file_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The group hvrun's gid ("" when there is none).
inline std::string hvrun_gid() {
  Result grp = run({"getent", "group", "hvrun"});
  if (grp.code != 0) return "";
  const size_t a = grp.out.find(':', grp.out.find(':') + 1) + 1;
  return grp.out.substr(a, grp.out.find(':', a) - a);
}

// The docker CLI as a tenant: uid (and gid) `uid`, in the group hvrun (the
// socket is root:hvrun 0660).
inline Result as_tenant(const std::string& sock, const std::string& gid, const std::string& uid,
                 const std::vector<std::string>& args) {
  std::vector<std::string> argv{"setpriv", "--reuid=" + uid, "--regid=" + uid, "--groups=" + gid, "env",
                                "DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=/nonexistent", kDocker};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, "", 60);
}

}  // namespace hvrun::test
