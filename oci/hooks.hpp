// OCI lifecycle hooks (runtime-spec config.md "POSIX-platform Hooks"): the
// programs config.json names, run by hvrun-oci with the container's state
// JSON on stdin. prestart and createRuntime run in the runtime's
// namespaces once the container's namespaces exist (before its root is
// built: the stack's on_namespaces point); their failure fails the create.
// poststart runs when start has let the process go, poststop when delete
// has removed the container; their failures are warnings. createContainer
// and startContainer (run inside the container) are refused by name.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hvrun::oci {

struct Hook {
  std::string path;               // absolute
  std::vector<std::string> args;  // argv, args[0] included ("": argv0 = path)
  std::vector<std::string> env;
  int timeout_s = 0;              // 0: none
};

struct Hooks {
  std::vector<Hook> prestart;        // with createRuntime, in that order
  std::vector<Hook> create_runtime;
  std::vector<Hook> poststart;
  std::vector<Hook> poststop;
  bool empty() const { return prestart.empty() && create_runtime.empty() && poststart.empty() && poststop.empty(); }
};

void to_json(nlohmann::json& j, const Hook& h);
void from_json(const nlohmann::json& j, Hook& h);
void to_json(nlohmann::json& j, const Hooks& h);
void from_json(const nlohmann::json& j, Hooks& h);

// config.json's "hooks" object. Throws Error "config.json: hooks...: why".
Hooks parse_hooks(const nlohmann::json& hooks);

// Runs the hook with `state` on its stdin (stdout and stderr: ours) and
// waits, killing it at its timeout. Throws Error "hook PATH: why" unless it
// exits 0.
void run_hook(const Hook& h, const std::string& state);

}  // namespace hvrun::oci
