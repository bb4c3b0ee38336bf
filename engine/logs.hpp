// Docker json-file logs: one {"log":"...\n","stream":"stdout","time":"..."}
// object per line. The writer splits a stream into lines (a partial line is
// held until its newline, or written as is when it grows past 16 KiB or at
// close, as Docker does).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "util/fd.hpp"

namespace hvrun::engine {

enum class Stream { Stdout = 0, Stderr = 1 };

// JSON string escaping; invalid UTF-8 bytes become U+FFFD.
std::string json_escape(std::string_view s);
std::string format_log_line(std::string_view log, Stream stream, const std::string& time);

struct LogEntry {
  std::string log;
  Stream stream = Stream::Stdout;
  std::string time;
};
// Parses one line of the log file; nullopt for a torn or foreign line.
std::optional<LogEntry> parse_log_line(const std::string& line);

class LogWriter {
 public:
  LogWriter() = default;
  explicit LogWriter(const std::string& path);  // O_APPEND, created 0640
  void write(Stream s, const char* data, size_t len);
  void flush();  // writes held partial lines
 private:
  void emit(Stream s, std::string_view line, std::string& out);
  UniqueFd fd_;
  std::string partial_[2];
};

struct LogReadOptions {
  bool timestamps = false;
  std::optional<size_t> tail;  // last N lines only
  bool follow = false;
  bool from_end = false;  // only what is written after the call (an attach)
};

// Calls `sink` with each entry of the log (by the options) until it returns
// false. With follow, keeps reading until `still_running()` turns false and
// the file has no more.
void read_logs(const std::string& path, const LogReadOptions& opts, const std::function<bool(const LogEntry&)>& sink,
               const std::function<bool()>& still_running);

// Prints the log's entries to out_fd/err_fd by stream. With follow, keeps
// reading until `still_running()` turns false and the file has no more.
void print_logs(const std::string& path, const LogReadOptions& opts, int out_fd, int err_fd,
                const std::function<bool()>& still_running);

}  // namespace hvrun::engine
