// The spdlog side of util/log.hpp: one logger writing to stderr, made on
// the first line actually written (a process that logs nothing never builds
// it: hvrun-vmm's memory beside guest RAM stays as it was).
#include "util/log.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

namespace hvrun::log {
namespace detail {
std::atomic<int> g_level{int(Level::warn)};
}

namespace {

std::mutex g_mu;
std::string g_program = "hvrun";
std::shared_ptr<spdlog::logger> g_logger;

spdlog::logger& logger() {
  std::lock_guard lock(g_mu);
  if (!g_logger) {
    g_logger = std::make_shared<spdlog::logger>(g_program, std::make_shared<spdlog::sinks::stderr_sink_mt>());
    // %P: the pid at the time of the line (a forked monitor shows its own).
    g_logger->set_pattern("%Y-%m-%d %H:%M:%S.%e " + g_program + "[%P] %l %v");
    g_logger->set_level(spdlog::level::trace);  // the filtering is ours (enabled())
    g_logger->flush_on(spdlog::level::trace);
  }
  return *g_logger;
}

spdlog::level::level_enum to_spdlog(Level l) { return static_cast<spdlog::level::level_enum>(int(l)); }

}  // namespace

std::optional<Level> parse_level(std::string_view text) {
  std::string t;
  for (char c : text) t += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (t == "debug") return Level::debug;
  if (t == "info") return Level::info;
  if (t == "warn" || t == "warning") return Level::warn;
  if (t == "error") return Level::error;
  return std::nullopt;
}

const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "warn";
}

std::string bad_level_message(std::string_view text) {
  return "invalid log level \"" + std::string(text) + "\" (debug, info, warn or error)";
}

void set_program(std::string_view name) {
  std::lock_guard lock(g_mu);
  g_program = name;
  g_logger.reset();  // the next line rebuilds it with this name
}

void set_level(Level l) { detail::g_level.store(int(l), std::memory_order_relaxed); }

Level level() { return static_cast<Level>(detail::g_level.load(std::memory_order_relaxed)); }

bool level_from_env() {
  const char* e = std::getenv(kEnvVar);
  if (!e || !*e) return false;
  auto l = parse_level(e);
  if (!l) return false;
  set_level(*l);
  return true;
}

void export_level() { ::setenv(kEnvVar, level_name(level()), 1); }

void write(Level l, std::string_view component, std::string_view message) {
  try {
    logger().log(to_spdlog(l), "{}: {}", component, message);
  } catch (...) {
    // Diagnostics never end the program.
  }
}

void detail::append_double(std::string& s, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  s += buf;
}

std::string ms(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f ms", static_cast<double>(ns) / 1e6);
  return buf;
}

}  // namespace hvrun::log
