// The Docker Engine API (a 1.41 subset) over hvrun's engine: what the real
// `docker` CLI and docker-py need for run (attached, -d, --rm), ps, logs,
// inspect, wait, kill, stop, rm, exec and images. Each container keeps its
// own monitor (started by `hvrun start`, run as a child process), so the
// server holds no container's life: kill it and nothing is lost.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "api/http.hpp"
#include "engine/options.hpp"

namespace hvrun::api {

// Tenants: a caller other than root (its uid from SO_PEERCRED) sees and
// touches only the containers it made (others' are "No such container",
// by name or id), may not reach into the host (binds, --privileged, added
// capabilities, security options, the host's network, ports below 1024)
// and is held to these quotas.
struct TenantLimits {
  size_t max_containers = 20;  // each tenant's, whatever their state; 0: no limit
  int64_t max_memory = 0;      // bytes, summed over its containers (-m); 0: no limit
};

class DockerApi {
 public:
  // `hvrun_exe`: the hvrun binary the server runs `start` and `exec` with.
  DockerApi(std::string store_root, std::string hvrun_exe, TenantLimits limits = {});
  void handle(const Request& req, Connection& conn);
  // A thread that removes expired sandboxes, every second, for the
  // process's life (hvrun serve starts it).
  void start_reaper();

 private:
  struct Exec {
    std::string container_id;
    uint32_t owner_uid = 0;
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
  void networks(const Request& req, Connection& conn, const std::vector<std::string>& parts);
  void volumes(const Request& req, Connection& conn, const std::vector<std::string>& parts);
  void create(const Request& req, Connection& conn);
  // A container made for the caller (a tenant's checks and quotas applied):
  // its id; ApiError 404 "No such image" (Docker's wording).
  std::string create_for(const Request& req, engine::RunOptions o);
  // The sandbox endpoints (api/sandbox.cpp).
  void sandboxes(const Request& req, Connection& conn, const std::vector<std::string>& parts);
  void sandbox_exec(const Request& req, Connection& conn, const std::string& id);
  void sandbox_files(const Request& req, Connection& conn, const std::string& id);
  // api/sandbox_snapshots.cpp: a microVM sandbox's snapshot (`clone`: one
  // taken while it runs on, restored at once as a new sandbox), a new
  // sandbox from a snapshot, and the caller's snapshots (/hvrun/v1/snapshots).
  void sandbox_snapshot(const Request& req, Connection& conn, const std::string& id, bool clone);
  void sandbox_restore(const Request& req, Connection& conn, const std::string& snapshot, const std::string& name,
                       int64_t ttl);
  void snapshots(const Request& req, Connection& conn, const std::vector<std::string>& parts);
  void pull(const Request& req, Connection& conn);
  void build(const Request& req, Connection& conn);  // api/docker_build.cpp
  void push(const Request& req, Connection& conn, const std::string& name);
  void save(Connection& conn, const std::vector<std::string>& names);
  void load(const Request& req, Connection& conn);
  void list(const Request& req, Connection& conn);
  void logs(const Request& req, Connection& conn, const std::string& id, bool attach);
  void archive(const Request& req, Connection& conn, const std::string& id);
  void stats(const Request& req, Connection& conn, const std::string& id);
  void events(const Request& req, Connection& conn);
  void exec_create(const Request& req, Connection& conn, const std::string& id);
  void exec_start(const Request& req, Connection& conn, const std::string& exec_id);
  void exec_inspect(const Request& req, Connection& conn, const std::string& exec_id);
  void exec_resize(const Request& req, Connection& conn, const std::string& exec_id);

  // A container's id by name, id or id prefix, among those the caller may
  // see; "no such container" for the rest.
  std::string resolve(const Request& req, const std::string& ref) const;
  // A tenant's create: what it may not ask for, and its quotas (ApiError 403).
  void check_tenant(const engine::RunOptions& o) const;
  // A tenant's exited container started again: its memory quota, counted
  // with this container's memory and its others' running ones.
  void check_tenant_restart(uint32_t uid, const std::string& id) const;
  // `hvrun start ID` as a child (its monitor detaches): 204, or the error.
  // `exited`: a tenant's container is held to its memory quota first.
  void start_child(const Request& req, Connection& conn, const std::string& id, bool exited);

  std::string root_;
  std::string exe_;
  TenantLimits limits_;
  std::mutex mu_;
  std::mutex tenant_mu_;  // a tenant's quota check and its create, together
  std::map<std::string, Exec> execs_;
};

}  // namespace hvrun::api
