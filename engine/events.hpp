// Container events (`docker events`): create, start, die, destroy, each one
// JSON line appended to ROOT/containers/events.log by whoever makes the
// event (the CLI, a container's monitor, rm). Lines are short and written
// with one O_APPEND write, so writers never interleave. Past 4 MiB the log
// is renamed events.log.1 (one old generation is kept) and a new one begun.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "util/fd.hpp"

namespace hvrun::engine {

struct Event {
  std::string action;  // create | start | die | destroy
  std::string id, name, image;
  uint32_t owner_uid = 0;
  int exit_code = 0;   // die's
  int64_t time_nano = 0;
};

// Appends an event to the store's log (`containers_dir`: ROOT/containers).
// Never throws: an event that cannot be written is logged and dropped.
void record_event(const std::string& containers_dir, const std::string& action, const std::string& id,
                  const std::string& name, const std::string& image, uint32_t owner_uid, int exit_code = 0) noexcept;

// Follows the log from its end as it is now: next() returns each event
// appended from then on, waiting up to `timeout_ms` for one (nullopt when
// none came). Survives the log's rotation. With `since_nano`, the events the
// log still holds from that time on (its old generation too) come first,
// then the new ones, none twice (`docker events --since`).
class EventFollower {
 public:
  explicit EventFollower(std::string containers_dir, std::optional<int64_t> since_nano = std::nullopt);
  std::optional<Event> next(int timeout_ms);

 private:
  void reopen(bool from_end);
  std::string path_;
  UniqueFd fd_;
  uint64_t ino_ = 0;
  std::string pending_;
  int64_t since_nano_ = 0;
};

}  // namespace hvrun::engine
