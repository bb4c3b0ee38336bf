// How a container is shown: Docker's inspect JSON and its ps status text,
// shared by the CLI (inspect, ps) and the API (hvrun serve).
#pragma once
#include <ctime>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "engine/records.hpp"
#include "util/time.hpp"

namespace hvrun::engine {

// Docker-shaped inspect object (Id, State, Config, HostConfig,
// NetworkSettings, and hvrun's Mode and VmmJail).
nlohmann::json inspect_json(const ContainerConfig& c, const State& st);
// Docker's NetworkSettings.Networks: the network the container was made on
// and those connected later (engine/network.hpp), by name: IPAddress,
// IPPrefixLen, Gateway, MacAddress, Aliases.
nlohmann::json networks_json(const std::string& store_root, const ContainerConfig& c);

// "Up 5 seconds", "Up 2 minutes (Paused)", "Exited (0) 3 seconds ago", "Created".
std::string status_text(const ContainerConfig& c, const State& st);

// A label filter's value, KEY or KEY=VALUE, against a set of labels.
bool labels_match(const std::map<std::string, std::string>& labels, const std::string& filter);

// Docker's container filters (ps --filter, the API's filters=): the values
// of one key are alternatives (but every label must match), keys all apply. Keys: name (substring), id
// (prefix), status, ancestor (the image as run, or its id), label (KEY or
// KEY=VALUE), network (created on it or connected to it since, by name),
// exited (an exited container's exit code). parse throws Error "invalid
// filter ..." for anything else.
class ContainerFilter {
 public:
  static ContainerFilter parse(const std::map<std::string, std::vector<std::string>>& by_key, const std::string& store_root);
  bool has(const std::string& key) const { return by_key_.count(key) != 0; }
  bool match(const ContainerConfig& c, const State& st) const;

 private:
  std::map<std::string, std::vector<std::string>> by_key_;
  std::map<std::string, std::string> ancestor_ids_;  // an ancestor value -> the image id it names now
  std::string store_root_;                           // (network: the containers' leases)
};

// (util/time.hpp)
using ::hvrun::human_duration;
using ::hvrun::parse_rfc3339;
// human_duration from RFC 3339 time `t` to now; "" when unparsable.
std::string since(const std::string& t);

}  // namespace hvrun::engine
