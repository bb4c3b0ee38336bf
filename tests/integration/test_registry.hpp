// Test helpers shared by the registry tests and hvrun serve's pull test:
// a child process (Process), Debian's docker-registry on 127.0.0.1 with its
// storage in a TempDir (TestRegistry), and small shell/file helpers.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness.hpp"

namespace hvrun::test {


inline int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

inline bool port_open(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

inline std::string sh(const std::string& script, int timeout_s = 300) {
  Result r = run({"sh", "-c", script}, "", timeout_s);
  if (r.code != 0) throw std::runtime_error("sh failed (" + std::to_string(r.code) + "): " + script + "\n" + r.err);
  return r.out;
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A background process (its output in a log file), killed at scope end.
class Process {
 public:
  Process() = default;
  Process(const std::vector<std::string>& argv, const std::string& log,
          const std::map<std::string, std::string>& env = {}) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int nul = ::open("/dev/null", O_RDONLY);
      ::dup2(nul, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> a;
      for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
      a.push_back(nullptr);
      ::execvp(a[0], a.data());
      _exit(127);
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  Process(Process&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
  Process& operator=(Process&& o) noexcept {
    stop();
    pid_ = std::exchange(o.pid_, -1);
    return *this;
  }
  ~Process() { stop(); }
  pid_t pid() const { return pid_; }
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // Exit status (128+N for signal N), waiting for it.
  int wait() {
    if (pid_ <= 0) return -1;
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

struct RegistryOptions {
  bool tls = false;
  bool htpasswd = false;
  bool token = false;
};

inline constexpr const char* kUser = "alice";
inline constexpr const char* kPassword = "s3cret-pw";

// docker-registry with its storage in a TempDir.
class TestRegistry {
 public:
  explicit TestRegistry(RegistryOptions o = {}) : opt_(o) {
    const std::string& d = dir_.path();
    std::string cfg = "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: " + data() +
                      "\n  delete:\n    enabled: true\n";
    port_ = free_port();
    cfg += "http:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n";
    if (o.tls) {
      // A CA of the test's own, and a server certificate for 127.0.0.1 it signs.
      sh("set -e; cd " + d +
         "; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj '/CN=hvrun test CA' 2>/dev/null"
         "; openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null"
         "; printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf"
         "; openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile ext.cnf 2>/dev/null");
      cfg += "  tls:\n    certificate: " + d + "/server.crt\n    key: " + d + "/server.key\n";
    }
    if (o.htpasswd) {
      sh("htpasswd -Bbn " + std::string(kUser) + " " + kPassword + " > " + d + "/htpasswd");
      cfg += "auth:\n  htpasswd:\n    realm: hvrun-test\n    path: " + d + "/htpasswd\n";
    }
    if (o.token) {
      sh("set -e; cd " + d +
         "; openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt -days 2 -subj /CN=token 2>/dev/null");
      issuer_ = Process({"/usr/bin/python3", source_dir() + "/tests/integration/registry_token_issuer.py", d + "/token.port",
                         d + "/token.key", d + "/token.crt", "hvrun-test-issuer", "hvrun-test",
                         std::string(kUser) + ":" + kPassword},
                        d + "/issuer.log");
      for (int i = 0; i < 500 && !std::filesystem::exists(d + "/token.port"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!std::filesystem::exists(d + "/token.port")) throw std::runtime_error("token issuer did not start: " + slurp(d + "/issuer.log"));
      cfg += "auth:\n  token:\n    realm: http://127.0.0.1:" + slurp(d + "/token.port") +
             "/token\n    service: hvrun-test\n    issuer: hvrun-test-issuer\n    rootcertbundle: " + d + "/token.crt\n";
    }
    std::ofstream(d + "/config.yml") << cfg;
    start();
  }
  void start() {
    proc_ = Process({"/usr/bin/docker-registry", "serve", dir_.path() + "/config.yml"}, log_path());
    for (int i = 0; i < 1000 && !port_open(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!port_open(port_)) throw std::runtime_error("docker-registry did not start: " + slurp(log_path()));
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string data() const { return dir_.path() + "/data"; }
  std::string ca() const { return dir_.path() + "/ca.crt"; }
  std::string log_path() const { return dir_.path() + "/registry.log"; }
  std::string log() const { return slurp(log_path()); }
  std::string dir() const { return dir_.path(); }
  Process& process() { return proc_; }
  // skopeo's flags for this registry.
  std::vector<std::string> skopeo_tls(const char* side) const {
    if (opt_.tls) return {std::string("--") + side + "-cert-dir=" + certdir()};
    return {std::string("--") + side + "-tls-verify=false"};
  }
  std::string certdir() const {
    std::string c = dir_.path() + "/skopeo-certs";
    std::filesystem::create_directories(c);
    std::filesystem::copy_file(ca(), c + "/ca.crt", std::filesystem::copy_options::overwrite_existing);
    return c;
  }

 private:
  RegistryOptions opt_;
  TempDir dir_;
  int port_ = 0;
  Process issuer_;
  Process proc_;
};

}  // namespace hvrun::test
