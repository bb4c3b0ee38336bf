// The control channel between the host and guest-init: JSON lines on the
// guest's hvc2 (contract/plan.hpp). Every message is encoded and decoded
// here, on both sides: the engine's VM backend (the monitor), hvrun-vmm's
// relay and guest-init.
//
//   host -> guest  {"signal":N}            deliver signal N to the workload
//                  {"winsize":[rows,cols]} resize its terminal
//                  {"stdin_eof":true}      its stdin ends (once hvc0 is drained)
//                  {"freeze":true}         freeze the writable disk's file system
//                                          (FIFREEZE: synced, then writes wait)
//                  {"freeze":false}        thaw it (FITHAW)
//   guest -> host  {"event":"ready"}       the consoles are raw: input may flow
//                  {"event":"exit","code":N,"signal":S,"oom":B[,"error":"why"]}
//                                          the workload ended (or guest-init
//                                          failed: code 125 and the reason)
//                  {"event":"frozen","frozen":B[,"error":"why"]}
//                                          the answer to each freeze message:
//                                          whether the file system is frozen
//                                          now, and why a request failed
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hvrun::contract {

// host -> guest
struct SignalMsg {
  int signal = 0;
};
struct WinsizeMsg {
  unsigned short rows = 0, cols = 0;
};
struct StdinEofMsg {};
struct FreezeMsg {
  bool freeze = true;  // false: thaw
};
using HostMessage = std::variant<SignalMsg, WinsizeMsg, StdinEofMsg, FreezeMsg>;

// guest -> host
struct ReadyEvent {};
struct ExitEvent {
  int code = 0;
  int signal = 0;  // the workload died by this signal (code is then 128+signal)
  bool oom = false;
  std::string error;  // guest-init's own failure (code 125); empty otherwise
};
// guest-init's answer to each FreezeMsg, in the order they came.
struct FrozenEvent {
  bool frozen = false;  // the file system's state after the request
  std::string error;    // why the request failed; empty when it did what was asked
};
using GuestEvent = std::variant<ReadyEvent, ExitEvent, FrozenEvent>;

// guest-init's own failure: code 125 (hvrun's error status) and the reason.
ExitEvent guest_error(const std::string& message);

// One line each, '\n' included (a message never holds a raw newline).
std::string encode(const HostMessage& m);
std::string encode(const GuestEvent& e);

// One line (without its '\n'). nullopt, and *why filled when given, for
// anything that is not a well-formed message of that direction.
std::optional<HostMessage> decode_host_message(std::string_view line, std::string* why = nullptr);
std::optional<GuestEvent> decode_guest_event(std::string_view line, std::string* why = nullptr);

// Splits a byte stream into lines. A line longer than kMaxLine is dropped
// whole (a hostile peer gets no memory), as is a partial line at the end.
class LineBuffer {
 public:
  static constexpr size_t kMaxLine = 65536;
  void append(std::string_view bytes);
  // The next complete line without its '\n', or nullopt when none is complete.
  std::optional<std::string> next();

 private:
  std::string buf_;
  bool skipping_ = false;  // inside an overlong line: drop up to its '\n'
};

}  // namespace hvrun::contract
