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
//                  {"exec":{"id":N,"args":[..],"env":[..],"cwd":S,"user":S,
//                           "tty":B,"stdin":B,"rows":R,"cols":C}}
//                                          run a process in the running workload's
//                                          container (hvrun exec), session N
//                  {"exec_stdin":{"id":N,"data":BASE64}}  input for session N
//                  {"exec_eof":N}          session N's stdin ends
//                  {"exec_signal":{"id":N,"signal":S}}    signal its process
//                  {"exec_winsize":{"id":N,"rows":R,"cols":C}}  resize its tty
//                  {"restored":{"time_ns":T,"seed":HEX}}
//                                          the VM was restored from a snapshot:
//                                          set the clock to T (ns since the
//                                          epoch) and reseed the kernel's RNG
//                                          with the 32 bytes of HEX, so that no
//                                          two clones share random state
//                  {"spec":{"text":S,"disks":[B,..]}}
//                                          a template VM (engine/vm_template.hpp)
//                                          restored: its GuestSpec (JSON text, as
//                                          spec.json would hold it) and the byte
//                                          size of each disk, to wait for
//   guest -> host  {"event":"ready"}       the consoles are raw: input may flow
//                  {"event":"exit","code":N,"signal":S,"oom":B[,"error":"why"]}
//                                          the workload ended (or guest-init
//                                          failed: code 125 and the reason)
//                  {"event":"frozen","frozen":B[,"error":"why"]}
//                                          the answer to each freeze message:
//                                          whether the file system is frozen
//                                          now, and why a request failed
//                  {"event":"exec_output","id":N,"fd":1|2,"data":BASE64}
//                                          session N's output (a tty's on fd 1)
//                  {"event":"exec_read","id":N,"bytes":B}
//                                          session N's process took B more bytes
//                                          of its input: the host keeps at most
//                                          kExecStdinWindow bytes unanswered
//                  {"event":"exec_exit","id":N,"code":C,"signal":S[,"error":"why"]}
//                                          session N ended (or never started:
//                                          126/127/125 and the reason), after
//                                          all of its output
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "container/spec.hpp"
#include "contract/guest_spec.hpp"

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
// hvrun exec into a running microVM: session `id` (the host numbers them).
struct ExecStartMsg {
  unsigned id = 0;
  container::ExecSpec spec;  // args (at least one); env: the whole environment
                             // (the host merged it); cwd, user: "" the container's
  bool stdin_open = false;   // -i: input follows (else stdin is /dev/null)
  // docker cp into a running microVM: instead of running args, guest-init
  // unpacks the plain tar that arrives as input into this directory of the
  // container's file system (resolved inside its root: image/extract.hpp),
  // owned by the container's root; errors on stderr, status 1.
  std::string extract_to;
  bool extract_no_dir_swap = false;  // docker cp's noOverwriteDirNonDir
};
// Bytes of stdin or output per message: a line stays well under
// LineBuffer::kMaxLine once base64-encoded.
constexpr size_t kExecChunk = 16384;
// Input sent to a session and not yet taken by its process (exec_read
// answers): the sender waits beyond it, so a slow reader slows the sender
// down instead of losing input.
constexpr size_t kExecStdinWindow = size_t(1) << 20;
struct ExecInputMsg {
  unsigned id = 0;
  std::string data;  // at most kExecChunk bytes
};
struct ExecEofMsg {
  unsigned id = 0;
};
struct ExecSignalMsg {
  unsigned id = 0;
  int signal = 0;
};
struct ExecWinsizeMsg {
  unsigned id = 0;
  unsigned short rows = 0, cols = 0;
};
// A snapshot restore (engine: hvrun snapshot restore): the guest's clock
// stood still while it was saved, and its RNG state is every clone's.
constexpr size_t kRestoreSeedBytes = 32;
// A clone of a VM with a network card has an address, MAC and tap of its
// own: `network` is its card's new plan (guest_spec.hpp), which guest-init
// puts on the card the snapshot's guest had configured.
struct RestoredMsg {
  int64_t time_ns = 0;
  std::string seed;  // kRestoreSeedBytes raw bytes (hex on the wire)
  std::optional<GuestNetwork> network;
};
// A template VM's guest-init waits for this after its restore.
struct SpecMsg {
  std::string text;                 // contract::GuestSpec as JSON (guest_spec.hpp)
  std::vector<uint64_t> disk_bytes;  // per disk, in contract::Disk order
};
using HostMessage = std::variant<SignalMsg, WinsizeMsg, StdinEofMsg, FreezeMsg, ExecStartMsg, ExecInputMsg, ExecEofMsg,
                                 ExecSignalMsg, ExecWinsizeMsg, RestoredMsg, SpecMsg>;
// The session an exec message is for; nullopt for the workload's messages.
std::optional<unsigned> exec_session(const HostMessage& m);
void set_exec_session(HostMessage& m, unsigned id);

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
struct ExecOutputEvent {
  unsigned id = 0;
  int fd = 1;        // 1 or 2
  std::string data;  // at most kExecChunk bytes
};
struct ExecReadEvent {
  unsigned id = 0;
  uint64_t bytes = 0;
};
struct ExecExitEvent {
  unsigned id = 0;
  int code = 0;
  int signal = 0;
  std::string error;  // it never ran: why (code 125, 126 or 127)
};
using GuestEvent = std::variant<ReadyEvent, ExitEvent, FrozenEvent, ExecOutputEvent, ExecReadEvent, ExecExitEvent>;
std::optional<unsigned> exec_session(const GuestEvent& e);
// Why an exec message cannot go down the channel ("" when it can): its
// arguments, environment, cwd or user are not UTF-8 (JSON text), or the
// line is longer than LineBuffer::kMaxLine.
std::string exec_start_problem(const ExecStartMsg& m);
void set_exec_session(GuestEvent& e, unsigned id);

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
