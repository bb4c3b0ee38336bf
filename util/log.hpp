// Levelled diagnostics on stderr: one line per event,
//   2026-12-04 06:10:13.123 hvrun[4242] debug engine: image resolved: ...
// for hvrun, the monitor, hvrun-vmm and guest-init alike (the program name
// differs). The level comes from `--log-level` / `--debug` (hvrun) or
// HVRUN_LOG_LEVEL (every process: hvrun exports what it was given, so one
// setting gives a trail through all of them). Default: warn.
//
// A thin header on purpose: spdlog (util/log.cpp) stays out of every other
// file, and a disabled level costs one relaxed atomic load; the message is
// not even built. Keep these calls out of hot paths (vCPU exits, I/O loops).
//   HVRUN_DEBUG("engine", "record created: ", id, " (", n, " layers)");
// Arguments are concatenated: strings, characters, numbers, booleans.
#pragma once
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace hvrun::log {

// Same numbers as spdlog's levels.
enum class Level : int { debug = 1, info = 2, warn = 3, error = 4 };

// The environment variable children read the level from.
inline constexpr const char* kEnvVar = "HVRUN_LOG_LEVEL";

// "debug", "info", "warn" (or "warning"), "error", any case; nullopt otherwise.
std::optional<Level> parse_level(std::string_view text);
const char* level_name(Level l);  // "debug", "info", "warn", "error"
// The one-line reason a level was refused, for the CLI.
std::string bad_level_message(std::string_view text);

// The program name on each line ("hvrun", "hvrun-vmm", "hvrun-guest-init").
void set_program(std::string_view name);
void set_level(Level l);
Level level();
// Sets the level from HVRUN_LOG_LEVEL when it holds a valid one; returns
// false (level unchanged) when it is unset or invalid.
bool level_from_env();
// Puts the current level into HVRUN_LOG_LEVEL for the processes this one starts.
void export_level();

namespace detail {
extern std::atomic<int> g_level;
inline void append(std::string& s, std::string_view v) { s += v; }
inline void append(std::string& s, const char* v) { s += v ? v : "(null)"; }
inline void append(std::string& s, char c) { s += c; }
inline void append(std::string& s, bool b) { s += b ? "true" : "false"; }
void append_double(std::string& s, double v);
template <typename T>
  requires std::is_integral_v<T>
void append(std::string& s, T v) {
  s += std::to_string(v);
}
template <typename T>
  requires std::is_floating_point_v<T>
void append(std::string& s, T v) {
  append_double(s, double(v));
}
template <typename... A>
std::string cat(const A&... a) {
  std::string s;
  (append(s, a), ...);
  return s;
}
}  // namespace detail

inline bool enabled(Level l) { return int(l) >= detail::g_level.load(std::memory_order_relaxed); }
// One line at `l` (not checked against the level: the macros do that).
void write(Level l, std::string_view component, std::string_view message);

// "12.345 ms" from nanoseconds.
std::string ms(uint64_t ns);

}  // namespace hvrun::log

#define HVRUN_LOG(lvl, component, ...)                                                             \
  do {                                                                                             \
    if (::hvrun::log::enabled(lvl))                                                                \
      ::hvrun::log::write(lvl, component, ::hvrun::log::detail::cat(__VA_ARGS__));                \
  } while (0)
#define HVRUN_DEBUG(component, ...) HVRUN_LOG(::hvrun::log::Level::debug, component, __VA_ARGS__)
#define HVRUN_INFO(component, ...) HVRUN_LOG(::hvrun::log::Level::info, component, __VA_ARGS__)
#define HVRUN_WARN(component, ...) HVRUN_LOG(::hvrun::log::Level::warn, component, __VA_ARGS__)
#define HVRUN_ERROR(component, ...) HVRUN_LOG(::hvrun::log::Level::error, component, __VA_ARGS__)
