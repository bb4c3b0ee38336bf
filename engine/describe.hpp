// How a container is shown: Docker's inspect JSON and its ps status text,
// shared by the CLI (inspect, ps) and the API (hvrun serve).
#pragma once
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/records.hpp"

namespace hvrun::engine {

// Docker-shaped inspect object (Id, State, Config, HostConfig,
// NetworkSettings, and hvrun's Mode and VmmJail).
nlohmann::json inspect_json(const ContainerConfig& c, const State& st);

// "Up 5 seconds", "Up 2 minutes (Paused)", "Exited (0) 3 seconds ago", "Created".
std::string status_text(const ContainerConfig& c, const State& st);

// RFC 3339 (UTC) -> seconds since the epoch; 0 when unparsable.
std::time_t parse_rfc3339(const std::string& s);
// Docker's "About a minute", "5 seconds", "2 hours".
std::string human_duration(long seconds);
// human_duration from RFC 3339 time `t` to now; "" when unparsable.
std::string since(const std::string& t);

}  // namespace hvrun::engine
