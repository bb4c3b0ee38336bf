// The Docker Engine API's JSON, to and from hvrun's own types: pure
// functions (no store, no I/O), unit-tested and fuzzed (tests/fuzz/
// docker_api.cpp). Every bad value throws ApiError with Docker's status
// (400) and a one-line message naming the field.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/logs.hpp"
#include "engine/options.hpp"
#include "util/error.hpp"

namespace hvrun::api {

// An error the API answers with a status of its own (400, 403, 404, ...).
struct ApiError : Error {
  int status;
  ApiError(int s, const std::string& m) : Error(m), status(s) {}
};

// A request body: {} when empty; 400 unless a JSON object.
nlohmann::json parse_body(const std::string& body);
// A member of a JSON object, or null when absent (or not an object); no copy.
const nlohmann::json& field(const nlohmann::json& obj, const char* name);
// Fields of a JSON object: absent or null -> empty/false/0; a wrong type -> 400.
std::vector<std::string> strings_of(const nlohmann::json& j, const char* field);  // also a lone string
// obj[field] as labels (an object of strings; absent or null: none); ApiError 400 otherwise.
std::map<std::string, std::string> labels_of(const nlohmann::json& obj, const char* field);
std::string string_of(const nlohmann::json& obj, const char* field);
bool bool_of(const nlohmann::json& obj, const char* field);
int64_t int_of(const nlohmann::json& obj, const char* field);

// POST /containers/create's body (Config + HostConfig) -> the CLI's
// RunOptions (what `hvrun run` would get from flags). `warnings` gets what
// is accepted but not kept.
engine::RunOptions run_options_of(const nlohmann::json& body, const std::string& name, std::vector<std::string>& warnings);

// "[HOSTIP:]HOSTPORT:PORT/PROTO" list -> Docker's port map
// {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}.
nlohmann::json port_map(const std::vector<std::string>& publish);

// A filters query value: {"name":["a"]} (1.41) or {"name":{"a":true}} (older).
std::map<std::string, std::vector<std::string>> parse_filters(const std::string& s);

// Docker's stdcopy frame: stream (1 stdout, 2 stderr), three zeros, the
// length big-endian, then the bytes.
std::string frame(engine::Stream s, const std::string& data);

}  // namespace hvrun::api
