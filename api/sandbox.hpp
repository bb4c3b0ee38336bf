// What the sandbox endpoints share (api/sandbox.cpp: make, exec, files,
// TTL; api/sandbox_snapshots.cpp: snapshot, restore, clone).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>

#include "engine/records.hpp"

namespace hvrun::api {

// A sandbox is a container labelled io.hvrun.sandbox; it expires at the
// unix second in io.hvrun.sandbox.expires (0: never).
inline constexpr const char* kSandboxLabel = "io.hvrun.sandbox";
inline constexpr const char* kExpiresLabel = "io.hvrun.sandbox.expires";

int64_t now_s();
int64_t expires_of(const engine::ContainerConfig& c);
// The sandbox as the endpoints show it: id, name, image, mode, status, expires_at.
nlohmann::json sandbox_json(const engine::ContainerConfig& c, const engine::State& st);
// The body's ttl_seconds: 0 (none) to a year; ApiError 400 otherwise.
int64_t ttl_of(const nlohmann::json& body);

}  // namespace hvrun::api
