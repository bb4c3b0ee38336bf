#include "engine/restart_policy.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace hvrun::engine {

RestartPolicy parse_restart_policy(const std::string& value) {
  auto bad = [&](const std::string& why) {
    return Error("invalid --restart \"" + value + "\": " + why);
  };
  const size_t colon = value.find(':');
  RestartPolicy p{value.substr(0, colon), 0};
  if (p.name != "no" && p.name != "always" && p.name != "unless-stopped" && p.name != "on-failure")
    throw bad("expected no, always, unless-stopped or on-failure[:MAX-RETRIES]");
  if (colon == std::string::npos) return p;
  if (p.name != "on-failure") throw bad("only on-failure takes a retry count");
  const std::string n = value.substr(colon + 1);
  if (n.empty() || n.size() > 6 || n.find_first_not_of("0123456789") != std::string::npos)
    throw bad("the retry count must be a number from 0 to 999999");
  p.max = std::stoi(n);
  return p;
}

bool restart_due(const ContainerConfig& cfg, const State& st, bool stopped_by_user) {
  if (stopped_by_user || cfg.auto_remove) return false;
  const std::string& p = cfg.restart_policy;
  if (p == "always" || p == "unless-stopped") return true;
  if (p == "on-failure") return st.exit_code != 0 && (cfg.restart_max == 0 || st.restart_count < cfg.restart_max);
  return false;
}

bool restart_on_boot(const ContainerConfig& cfg, const State& st, bool stopped_by_user) {
  if (cfg.auto_remove) return false;
  if (cfg.restart_policy == "always") return true;
  return restart_due(cfg, st, stopped_by_user);
}

int restart_delay_ms(int previous_ms, double ran_s) {
  if (previous_ms <= 0 || ran_s >= 10) return 100;
  return std::min(previous_ms * 2, 60000);
}

}  // namespace hvrun::engine
