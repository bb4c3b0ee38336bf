#include "engine/logs.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <deque>
#include <nlohmann/json.hpp>

#include "util/dir_watch.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::engine {

namespace {

constexpr size_t kMaxPartial = 16 * 1024;

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid.
size_t utf8_len(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}


}  // namespace

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  static const char* hex = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8_len(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  return out;
}

std::string format_log_line(std::string_view log, Stream stream, const std::string& time) {
  std::string out = "{\"log\":\"";
  out += json_escape(log);
  out += stream == Stream::Stdout ? "\",\"stream\":\"stdout\",\"time\":\"" : "\",\"stream\":\"stderr\",\"time\":\"";
  out += time;
  out += "\"}\n";
  return out;
}

std::optional<LogEntry> parse_log_line(const std::string& line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto log = j.find("log");
  auto stream = j.find("stream");
  if (log == j.end() || !log->is_string()) return std::nullopt;
  LogEntry e;
  e.log = log->get<std::string>();
  e.stream = (stream != j.end() && stream->is_string() && *stream == "stderr") ? Stream::Stderr : Stream::Stdout;
  if (auto t = j.find("time"); t != j.end() && t->is_string()) e.time = t->get<std::string>();
  return e;
}

LogWriter::LogWriter(const std::string& path)
    : fd_(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) {
  if (!fd_) throw_sys("open log", path);
}

void LogWriter::emit(Stream s, std::string_view line, std::string& out) {
  out += format_log_line(line, s, now_rfc3339_nano());
}

void LogWriter::write(Stream s, const char* data, size_t len) {
  if (!fd_) return;
  std::string& part = partial_[static_cast<int>(s)];
  std::string out;
  std::string_view in(data, len);
  while (!in.empty()) {
    size_t nl = in.find('\n');
    if (nl == std::string_view::npos) {
      part.append(in);
      size_t done = 0;
      for (; part.size() - done >= kMaxPartial; done += kMaxPartial)
        emit(s, std::string_view(part).substr(done, kMaxPartial), out);
      part.erase(0, done);
      break;
    }
    if (part.empty()) {
      emit(s, in.substr(0, nl + 1), out);
    } else {
      part.append(in.substr(0, nl + 1));
      emit(s, part, out);
      part.clear();
    }
    in.remove_prefix(nl + 1);
  }
  if (!out.empty()) (void)write_all(fd_.get(), out);  // a closed reader must not stop the logging
}

void LogWriter::flush() {
  if (!fd_) return;
  std::string out;
  for (int i = 0; i < 2; ++i) {
    if (partial_[i].empty()) continue;
    emit(static_cast<Stream>(i), partial_[i], out);
    partial_[i].clear();
  }
  if (!out.empty()) (void)write_all(fd_.get(), out);  // a closed reader must not stop the logging
}

void read_logs(const std::string& path, const LogReadOptions& opts, const std::function<bool(const LogEntry&)>& sink,
               const std::function<bool()>& still_running) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd && errno != ENOENT) throw_sys("open log", path);
  if (fd && opts.from_end) ::lseek(fd.get(), 0, SEEK_END);
  std::string pending;
  bool wanted = true;
  auto emit = [&](const std::string& line) {
    if (!wanted) return;
    if (auto e = parse_log_line(line)) wanted = sink(*e);
  };
  // Reads what is there now; returns complete lines.
  auto read_lines = [&]() {
    std::vector<std::string> lines;
    if (!fd) {
      fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return lines;
    }
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buf, static_cast<size_t>(n));
    }
    size_t pos = 0;
    for (size_t nl; (nl = pending.find('\n', pos)) != std::string::npos; pos = nl + 1)
      lines.push_back(pending.substr(pos, nl - pos));
    pending.erase(0, pos);
    return lines;
  };

  auto first = read_lines();
  size_t start = 0;
  if (opts.tail && *opts.tail < first.size()) start = first.size() - *opts.tail;
  for (size_t i = start; i < first.size(); ++i) emit(first[i]);
  if (!opts.follow) return;
  // Woken by the record's directory: the log written, the state replaced,
  // the record removed (and at least every 250 ms).
  const size_t slash = path.rfind('/');
  DirWatch watch(slash == std::string::npos ? "." : path.substr(0, slash));
  while (wanted) {
    bool running = still_running();
    for (const auto& l : read_lines()) emit(l);
    if (!running) break;
    watch.wait(250);
  }
}

void print_logs(const std::string& path, const LogReadOptions& opts, int out_fd, int err_fd,
                const std::function<bool()>& still_running) {
  read_logs(
      path, opts,
      [&](const LogEntry& e) {
        std::string text = opts.timestamps ? e.time + " " + e.log : e.log;
        (void)write_all(e.stream == Stream::Stderr ? err_fd : out_fd, text);
        return true;
      },
      still_running);
}

}  // namespace hvrun::engine
