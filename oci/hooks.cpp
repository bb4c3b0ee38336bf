#include "oci/hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::oci {

using nlohmann::json;

void to_json(json& j, const Hook& h) { j = {{"path", h.path}, {"args", h.args}, {"env", h.env}, {"timeout", h.timeout_s}}; }
void from_json(const json& j, Hook& h) {
  h.path = j.at("path").get<std::string>();
  h.args = j.value("args", std::vector<std::string>{});
  h.env = j.value("env", std::vector<std::string>{});
  h.timeout_s = j.value("timeout", 0);
}
void to_json(json& j, const Hooks& h) {
  j = {{"prestart", h.prestart}, {"createRuntime", h.create_runtime}, {"poststart", h.poststart}, {"poststop", h.poststop}};
}
void from_json(const json& j, Hooks& h) {
  h.prestart = j.value("prestart", std::vector<Hook>{});
  h.create_runtime = j.value("createRuntime", std::vector<Hook>{});
  h.poststart = j.value("poststart", std::vector<Hook>{});
  h.poststop = j.value("poststop", std::vector<Hook>{});
}

Hooks parse_hooks(const json& hooks) {
  auto bad = [](const std::string& field, const std::string& why) -> void {
    throw Error("config.json: " + field + ": " + why);
  };
  if (!hooks.is_object()) bad("hooks", "must be an object");
  Hooks out;
  for (const auto& [kind, list] : hooks.items()) {
    std::vector<Hook>* into = kind == "prestart"        ? &out.prestart
                              : kind == "createRuntime" ? &out.create_runtime
                              : kind == "poststart"     ? &out.poststart
                              : kind == "poststop"      ? &out.poststop
                                                        : nullptr;
    if (kind == "createContainer" || kind == "startContainer") {
      if (!list.empty()) bad("hooks." + kind, "hooks run inside the container are not supported yet");
      continue;
    }
    if (!into) continue;  // unknown: ignored, as the spec says of unknown properties
    if (!list.is_array()) bad("hooks." + kind, "must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string field = "hooks." + kind + "[" + std::to_string(i) + "]";
      const json& h = list[i];
      if (!h.is_object()) bad(field, "must be an object");
      Hook hk;
      if (!h.contains("path") || !h["path"].is_string()) bad(field + ".path", "is required (a string)");
      hk.path = h["path"].get<std::string>();
      if (hk.path.empty() || hk.path[0] != '/') bad(field + ".path", "\"" + hk.path + "\" must be an absolute path");
      for (const char* key : {"args", "env"}) {
        if (!h.contains(key)) continue;
        if (!h[key].is_array()) bad(field + "." + key, "must be a list of strings");
        for (const auto& a : h[key]) {
          if (!a.is_string()) bad(field + "." + key, "must be a list of strings");
          (std::string(key) == "args" ? hk.args : hk.env).push_back(a.get<std::string>());
        }
      }
      if (h.contains("timeout")) {
        if (!h["timeout"].is_number_integer() || h["timeout"].get<int64_t>() <= 0 || h["timeout"].get<int64_t>() > 86400)
          bad(field + ".timeout", "must be a positive number of seconds");
        hk.timeout_s = h["timeout"].get<int>();
      }
      into->push_back(hk);
    }
  }
  return out;
}

void run_hook(const Hook& h, const std::string& state) {
  Pipe in = Pipe::make();
  std::vector<std::string> args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : h.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_sys("fork for hook", h.path);
  if (pid == 0) {
    ::dup2(in.read.get(), 0);
    ::setpgid(0, 0);  // a timeout kills what it started too
    ::execve(h.path.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  in.read.reset();
  ::signal(SIGPIPE, SIG_IGN);
  (void)!::write(in.write.get(), state.data(), state.size());  // a hook that reads nothing is fine
  in.write.reset();
  UniqueFd pidfd = open_pidfd(pid);
  int st = 0;
  if (pidfd && h.timeout_s > 0) {
    pollfd p{pidfd.get(), POLLIN, 0};
    int n;
    do n = ::poll(&p, 1, h.timeout_s * 1000);
    while (n < 0 && errno == EINTR);
    if (n == 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      throw Error("hook " + h.path + ": timed out after " + std::to_string(h.timeout_s) + " s");
    }
  }
  while (::waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) throw_sys("waitpid for hook", h.path);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 127) throw Error("hook " + h.path + ": could not be run (exit 127)");
  if (WIFEXITED(st)) throw Error("hook " + h.path + ": exit status " + std::to_string(WEXITSTATUS(st)));
  throw Error("hook " + h.path + ": killed by signal " + std::to_string(WTERMSIG(st)));
}

}  // namespace hvrun::oci
