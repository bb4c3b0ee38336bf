#include "registry/progress.hpp"

#include <unistd.h>

namespace hvrun::registry {

std::string human_size(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.3g%s", b, units[u]);
  return buf;
}

Progress::Progress(FILE* out, int tty) : out_(out), tty_(out && (tty < 0 ? ::isatty(::fileno(out)) : tty != 0)) {}

size_t Progress::add(const std::string& id, const std::string& status, uint64_t total) {
  std::lock_guard<std::mutex> g(mu_);
  lines_.push_back(Line{id, status, total, 0, {}, false, rows_++});
  size_t i = lines_.size() - 1;
  if (!out_) return i;
  std::fprintf(out_, "%s\n", render(lines_[i]).c_str());
  std::fflush(out_);
  return i;
}

std::string Progress::render(const Line& l) const {
  std::string s = l.id + ": " + l.status;
  if (!tty_ || l.total == 0 || !l.started) return s;
  int width = 50;
  int fill = static_cast<int>(static_cast<double>(l.done) / static_cast<double>(l.total) * width);
  if (fill > width) fill = width;
  std::string bar = "[" + std::string(fill > 0 ? fill - 1 : 0, '=') + (fill > 0 ? ">" : "") + std::string(width - fill, ' ') + "]";
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - l.start).count();
  std::string rate = secs > 0.0005 ? "  " + human_size(static_cast<double>(l.done) / secs) + "/s" : "";
  return s + " " + bar + " " + human_size(static_cast<double>(l.done)) + "/" + human_size(static_cast<double>(l.total)) + rate;
}

void Progress::draw_locked(size_t i) {
  if (!out_) return;
  if (!tty_) {
    std::fprintf(out_, "%s\n", render(lines_[i]).c_str());
  } else {
    // Up to the line, redraw it, back down.
    size_t up = rows_ - lines_[i].row;
    std::fprintf(out_, "\x1b[%zuA\r\x1b[2K%s\x1b[%zuB\r", up, render(lines_[i]).c_str(), up);
  }
  std::fflush(out_);
}

void Progress::status(size_t i, const std::string& st) {
  std::lock_guard<std::mutex> g(mu_);
  if (i >= lines_.size()) return;
  lines_[i].status = st;
  lines_[i].started = false;
  draw_locked(i);
}

void Progress::bytes(size_t i, const std::string& verb, uint64_t done) {
  std::lock_guard<std::mutex> g(mu_);
  if (i >= lines_.size()) return;
  Line& l = lines_[i];
  if (!l.started) {
    l.started = true;
    l.start = std::chrono::steady_clock::now();
    l.status = verb;
    if (!tty_) {
      draw_locked(i);
      return;
    }
  }
  l.done = done;
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && done < l.total) return;
  last_draw_ = now;
  draw_locked(i);
}

void Progress::message(const std::string& line) {
  std::lock_guard<std::mutex> g(mu_);
  if (!out_) return;
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
  ++rows_;
}

}  // namespace hvrun::registry
