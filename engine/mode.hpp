// How a container runs: on the host kernel, or inside a microVM. One JSON
// mapping ("container", "vm"), as records have always stored it.
#pragma once
#include <nlohmann/json.hpp>

namespace hvrun::engine {

enum class Mode { Container, Vm };
NLOHMANN_JSON_SERIALIZE_ENUM(Mode, {{Mode::Container, "container"}, {Mode::Vm, "vm"}})

inline const char* to_string(Mode m) { return m == Mode::Vm ? "vm" : "container"; }

}  // namespace hvrun::engine
