// Per-layer progress like docker's: on a terminal, one line per layer
// redrawn in place ("3f4a...: Downloading [=====>    ] 12.1MB/40.0MB 35.2MB/s");
// otherwise plain status lines ("Pulling fs layer", "Download complete",
// "Pull complete"). Thread-safe: download threads report bytes.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace hvrun::registry {

class Progress {
 public:
  // tty: redraw in place (default: whether `out` is a terminal). A null
  // `out` prints nothing (-q).
  explicit Progress(FILE* out = stdout, int tty = -1);
  // Adds a line for an id (a layer's short digest); returns its index.
  size_t add(const std::string& id, const std::string& status, uint64_t total = 0);
  // A new status for line i ("Download complete"); printed on every output.
  void status(size_t i, const std::string& status);
  // Bytes so far (redrawn on a terminal at most every 100 ms; silent otherwise).
  void bytes(size_t i, const std::string& verb, uint64_t done);
  // A line outside the layer table ("Digest: sha256:...").
  void message(const std::string& line);
  bool tty() const { return tty_; }

 private:
  struct Line {
    std::string id, status;
    uint64_t total = 0, done = 0;
    std::chrono::steady_clock::time_point start;
    bool started = false;
    size_t row = 0;  // printed lines before it
  };
  void draw_locked(size_t i);
  std::string render(const Line& l) const;

  FILE* out_;
  bool tty_;
  std::mutex mu_;
  std::vector<Line> lines_;
  std::chrono::steady_clock::time_point last_draw_;
  size_t rows_ = 0;  // lines printed so far
};

// "12.3MB" (docker's decimal units).
std::string human_size(double bytes);

}  // namespace hvrun::registry
