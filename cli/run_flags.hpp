// The flags `run` and `create` share (Docker's), and what they make of
// IMAGE and the command after them.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "engine/options.hpp"

namespace hvrun::cli {

// "Usage: hvrun run [OPTIONS] IMAGE [COMMAND] [ARG...]": IMAGE and the command
// are left unparsed (prefix_command), so CLI11 alone would not show them.
class RunUsage : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::string u = CLI::Formatter::make_usage(app, std::move(name));
    auto nl = u.rfind('\n');
    return (nl == std::string::npos ? u : u.substr(0, nl)) + " IMAGE [COMMAND] [ARG...]\n";
  }
};

struct RunFlags {
  engine::RunOptions o;
  bool vm = false;
  std::string workdir;
  std::string user;
  std::string entrypoint;

  // Options come before IMAGE; IMAGE and everything after it are left
  // unparsed (the command's own flags belong to it).
  void add(CLI::App* sub, bool with_detach) {
    sub->prefix_command();
    sub->fallthrough(false);  // IMAGE and the command are ours, not the parent's
    auto one = [](CLI::Option* opt) { return opt->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll); };
    sub->add_flag("--container")->description("Run as a container (default)");
    sub->add_flag("--vm", vm, "Run in a microVM");
    sub->add_option("--name", o.name, "Container name");
    if (with_detach) sub->add_flag("-d,--detach", o.detach, "Run in the background and print the container id");
    sub->add_flag("-i,--interactive", o.interactive, "Keep stdin open");
    sub->add_flag("-t,--tty", o.tty, "Allocate a pseudo-terminal");
    sub->add_flag("--rm", o.auto_remove, "Remove the container when it exits");
    one(sub->add_option("-e,--env", o.env, "Set an environment variable (K=V, or K from the caller)"));
    one(sub->add_option("--env-file", o.env_files, "Read environment variables from a file"));
    sub->add_option("-w,--workdir", workdir, "Working directory inside the container");
    sub->add_option("-u,--user", user, "User (name|uid[:group|gid])");
    sub->add_option("-h,--hostname", o.hostname, "Container hostname");
    one(sub->add_option("-v,--volume", o.volumes, "Bind mount HOST:CONTAINER[:ro], or a named volume NAME:CONTAINER[:ro] (made when new)"));
    one(sub->add_option("--mount", o.mounts, "Mount: type=bind|volume|tmpfs,source=,target=[,readonly][,tmpfs-size=,tmpfs-mode=]"));
    one(sub->add_option("--tmpfs", o.tmpfs, "Mount a tmpfs PATH[:rw|ro,size=64m,mode=1777,exec,suid,dev]"));
    one(sub->add_option("--ulimit", o.ulimits, "Resource limit NAME=SOFT[:HARD] (e.g. nofile=1024:2048)"));
    sub->add_flag("--read-only", o.read_only, "Mount the root filesystem read-only");
    sub->add_option("-m,--memory", o.memory, "Memory limit (64m, 1g)");
    sub->add_option("--cpus", o.cpus, "CPU limit (0.5)");
    sub->add_option("--pids-limit", o.pids_limit, "Process limit (-1: unlimited)");
    one(sub->add_option("--cap-add", o.cap_add, "Add a capability"));
    one(sub->add_option("--cap-drop", o.cap_drop, "Drop a capability"));
    one(sub->add_option("--security-opt", o.security_opts, "seccomp=unconfined|strict|FILE, no-new-privileges[=true|false]"));
    sub->add_option("--userns", o.userns, "User namespace: host (default) or private (the container's root is host uid 100000)");
    sub->add_option("--pid", o.pid, "PID namespace: private (default) or host (the container sees every process of the host)");
    sub->add_option("--ipc", o.ipc, "IPC namespace: private (default) or host (the host's shared memory and message queues)");
    sub->add_flag("--privileged", o.privileged,
                  "Every capability, no seccomp filter or mount guard, nothing masked, /sys writable (docs/security.md)");
    sub->add_option("--net,--network", o.net, "Network: bridge (the default network; default unless $HVRUN_NETWORK says otherwise), none, host or a network's name");
    sub->add_option("--entrypoint", entrypoint, "Replace the image's ENTRYPOINT (\"\": none); the image's CMD is then dropped too");
    one(sub->add_option("-p,--publish", o.publish, "Publish a port: [[HOSTIP:]HOSTPORT:]PORT[/tcp|/udp] (no host port: a free one)"));
    sub->add_flag("-P,--publish-all", o.publish_all, "Publish every port the image exposes, each on a free host port");
    one(sub->add_option("-l,--label", o.labels, "Set a label KEY=VALUE (ps --filter label=KEY[=VALUE])"));
    sub->add_option("--stop-signal", o.stop_signal, "Signal that stop sends first (default: the image's STOPSIGNAL, else SIGTERM)");
    sub->add_option("--stop-timeout", o.stop_timeout, "Seconds stop waits before SIGKILL (default 10)");
    sub->add_option("--restart", o.restart, "Restart policy: no, always, unless-stopped, on-failure[:MAX-RETRIES]");
    sub->add_flag("--init", o.init, "Run a small init as PID 1 that forwards signals and reaps orphans");
    one(sub->add_option("--add-host", o.add_hosts, "Add a line to /etc/hosts: NAME:IP (IP may be host-gateway)"));
    one(sub->add_option("--dns", o.dns, "Set a nameserver in /etc/resolv.conf"));
    one(sub->add_option("--dns-search", o.dns_search, "Set a search domain in /etc/resolv.conf (\".\": none)"));
    one(sub->add_option("--dns-option", o.dns_options, "Set an option in /etc/resolv.conf (ndots:2)"));
  }

  // After parsing: IMAGE, the command and the flags that need the parse.
  void finish(CLI::App* sub) {
    const std::string cmd = sub->get_name();
    std::vector<std::string> rest = sub->remaining();
    if (rest.empty()) throw CLI::ValidationError(cmd, "requires an IMAGE (hvrun " + cmd + " [OPTIONS] IMAGE [COMMAND...])");
    if (rest[0].size() > 1 && rest[0][0] == '-') throw CLI::ValidationError(cmd, "unknown flag: " + rest[0]);
    o.image = rest[0];
    o.command.assign(rest.begin() + 1, rest.end());
    if (vm) o.mode = engine::Mode::Vm;
    if (sub->count("--workdir")) o.workdir = workdir;
    if (sub->count("--user")) o.user = user;
    if (sub->count("--entrypoint"))
      o.entrypoint = entrypoint.empty() ? std::vector<std::string>{} : std::vector<std::string>{entrypoint};
  }
};

}  // namespace hvrun::cli
