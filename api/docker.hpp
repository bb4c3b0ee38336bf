// The Docker Engine API (a 1.41 subset) over hvrun's engine: what the real
// `docker` CLI and docker-py need for run (attached, -d, --rm), ps, logs,
// inspect, wait, kill, stop, rm, exec and images. Each container keeps its
// own monitor (started by `hvrun start`, run as a child process), so the
// server holds no container's life: kill it and nothing is lost.
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "api/http.hpp"

namespace hvrun::api {

class DockerApi {
 public:
  // `hvrun_exe`: the hvrun binary the server runs `start` and `exec` with.
  DockerApi(std::string store_root, std::string hvrun_exe);
  void handle(const Request& req, Connection& conn);

 private:
  struct Exec {
    std::string container_id;
    std::vector<std::string> cmd, env;
    std::string user, workdir;
    bool tty = false, attach_stdin = false;
    bool running = false;
    int exit_code = 0;
    bool ran = false;
    int pty_master = -1;  // while a -t exec runs: its pty, for resize
  };
  void containers(const Request& req, Connection& conn, const std::vector<std::string>& parts);
  void images(const Request& req, Connection& conn, const std::vector<std::string>& parts);
  void create(const Request& req, Connection& conn);
  void list(const Request& req, Connection& conn);
  void logs(const Request& req, Connection& conn, const std::string& id, bool attach);
  void exec_create(const Request& req, Connection& conn, const std::string& id);
  void exec_start(const Request& req, Connection& conn, const std::string& exec_id);
  void exec_inspect(Connection& conn, const std::string& exec_id);
  void exec_resize(const Request& req, Connection& conn, const std::string& exec_id);

  std::string root_;
  std::string exe_;
  std::mutex mu_;
  std::map<std::string, Exec> execs_;
};

}  // namespace hvrun::api
