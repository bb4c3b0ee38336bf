#include "engine/events.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace hvrun::engine {

namespace {

constexpr off_t kRotateAt = 4 << 20;

Event event_of(const nlohmann::json& j) {
  Event e;
  e.action = j.value("action", "");
  e.id = j.value("id", "");
  e.name = j.value("name", "");
  e.image = j.value("image", "");
  e.owner_uid = j.value("uid", 0u);
  e.exit_code = j.value("exitCode", 0);
  e.time_nano = j.value("timeNano", int64_t{0});
  return e;
}

}  // namespace

void record_event(const std::string& containers_dir, const std::string& action, const std::string& id,
                  const std::string& name, const std::string& image, uint32_t owner_uid, int exit_code) noexcept {
  try {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    nlohmann::json j = {{"action", action}, {"id", id}, {"name", name}, {"image", image}, {"uid", owner_uid},
                        {"timeNano", std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()}};
    if (action == "die") j["exitCode"] = exit_code;
    const std::string line = j.dump() + "\n";
    const std::string path = containers_dir + "/events.log";
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) {
      HVRUN_DEBUG("events", "no event log ", path, ": ", std::strerror(errno));
      return;
    }
    if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      HVRUN_DEBUG("events", "event not written to ", path, ": ", std::strerror(errno));
    // Rotated by the writer that crossed the size, once: a second writer
    // still holding the old log finds the name on a new file and leaves it.
    struct stat st {}, named {};
    if (::fstat(fd.get(), &st) == 0 && st.st_size > kRotateAt && ::stat(path.c_str(), &named) == 0 &&
        named.st_ino == st.st_ino && named.st_dev == st.st_dev)
      ::rename(path.c_str(), (path + ".1").c_str());
  } catch (const std::exception& e) {
    HVRUN_DEBUG("events", "event ", action, " of ", id, " dropped: ", e.what());
  }
}

EventFollower::EventFollower(std::string containers_dir, std::optional<int64_t> since_nano)
    : path_(std::move(containers_dir) + "/events.log"), since_nano_(since_nano.value_or(0)) {
  reopen(!since_nano);
  if (!since_nano) return;
  // The old generation first: what it holds is older than all of the current log.
  try {
    pending_ = read_file(path_ + ".1");
  } catch (const Error&) {
    // none yet
  }
}

void EventFollower::reopen(bool from_end) {
  fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  ino_ = 0;
  pending_.clear();
  if (!fd_) return;
  struct stat st {};
  if (::fstat(fd_.get(), &st) == 0) ino_ = st.st_ino;
  if (from_end) ::lseek(fd_.get(), 0, SEEK_END);
}

std::optional<Event> EventFollower::next(int timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (size_t nl = pending_.find('\n'); nl != std::string::npos) {
      const std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      try {
        Event e = event_of(nlohmann::json::parse(line));
        if (e.time_nano < since_nano_) continue;
        return e;
      } catch (const std::exception&) {
        continue;  // a torn or foreign line
      }
    }
    bool got = false;
    if (fd_) {
      char buf[8192];
      const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n > 0) {
        pending_.append(buf, static_cast<size_t>(n));
        got = true;
      }
    }
    if (got) continue;
    // At the end of what we hold: a new log (rotated, or made since) is read from its start.
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && st.st_ino != ino_) {
      reopen(false);
      continue;
    }
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    ::poll(nullptr, 0, 50);
  }
}

}  // namespace hvrun::engine
