// Freezing a running microVM's writable file system from another hvrun
// process (commit, export and diff of a running VM: engine/changes.cpp).
//
//   hvrun commit --(control.sock: "freeze")--> FreezeServer (a thread of the
//     VM's monitor) --GuestChannel: {"freeze":true}--> relay --> hvc2 -->
//     guest-init: sync + FIFREEZE on the writable disk's mount point
//     <-- {"event":"frozen","frozen":true} <-- ... <-- "frozen"
//   then the host reads ROOT/containers/<id>/vm-rw.ext4 (engine/vm_changes.hpp),
//   and "thaw" (or the client's disconnect: a killed commit never leaves the
//   guest frozen) sends {"freeze":false}.
//
// Why a file-system freeze and not only paused vCPUs: the guest's page cache
// may hold writes that are not on the disk; FIFREEZE writes them back and
// holds new ones until the thaw, as QEMU's guest agent does for snapshots.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "contract/control.hpp"
#include "util/fd.hpp"

namespace hvrun::engine {

// Where a running microVM's monitor listens: DIR/control.sock, DIR being
// the container's directory (ROOT/containers/<id>).
std::string vm_control_socket(const std::string& container_dir);

// The monitor's end of the guest's control channel (hvc2 through
// hvrun-vmm's relay). A reader thread takes the guest's lines as they
// come: FrozenEvents answer request_freeze(), everything else (the exit
// event) is kept for finish(). Writes from any thread are whole lines,
// never interleaved.
class GuestChannel {
 public:
  explicit GuestChannel(UniqueFd fd);
  ~GuestChannel();
  GuestChannel(const GuestChannel&) = delete;
  GuestChannel& operator=(const GuestChannel&) = delete;

  // False when the channel is closed (the VM ended).
  bool send(const contract::HostMessage& m);
  // Sends {"freeze":B} and waits up to `timeout` for the guest's answer.
  // An unanswered request (timeout, or the VM ended) comes back as an event
  // whose error says so; a late answer is discarded when it comes. One
  // request at a time (others wait their turn).
  contract::FrozenEvent request_freeze(bool freeze, std::chrono::milliseconds timeout);
  // Where the guest's exec events (exec_output, exec_exit) go: called on
  // the reader thread, in the order they came, outside the channel's lock.
  // Without a sink they are dropped. Returns once no call of the old sink
  // is running.
  void set_exec_sink(std::function<void(const contract::GuestEvent&)> sink);
  // Whether the guest said "ready" (its consoles are raw: what the host
  // sends on them is read, not echoed). A VM restored from a snapshot was
  // ready before it was saved: its monitor calls mark_ready().
  bool ready();
  void mark_ready();
  bool closed();
  // Stops the reader, reads what is still buffered and returns every line
  // the guest sent that was not a FrozenEvent, each ending in '\n'.
  std::string finish();
  int fd() const { return fd_.get(); }

 private:
  void take(const char* p, size_t n);  // under mu_
  void reader();

  UniqueFd fd_;
  Pipe stop_;
  std::mutex write_mu_;    // whole lines
  std::mutex request_mu_;  // one freeze request at a time
  std::mutex mu_;          // what follows
  std::condition_variable cv_;
  contract::LineBuffer lines_;
  std::deque<contract::FrozenEvent> answers_;
  std::string other_;
  unsigned stale_ = 0;  // answers still owed to requests given up on
  bool closed_ = false;
  bool ready_ = false;
  std::vector<contract::GuestEvent> exec_events_;  // taken, not yet given to the sink
  std::mutex sink_mu_;  // held while the sink runs: set_exec_sink waits for it
  std::function<void(const contract::GuestEvent&)> exec_sink_;
  std::thread thread_;
};

// The monitor's control socket (a thread of its own): one line per request,
// one line per answer.
//   "freeze" -> "frozen" | "error: WHY"   (the first holder freezes the guest)
//   "thaw"   -> "thawed" | "error: WHY"   (the last holder thaws it)
//   "snapshot DIR" -> "snapshotted" | "error: WHY"
//            (the VM is saved into the new directory DIR and stops:
//            engine/vm_snapshots.hpp; the monitor's SnapshotHook does it)
//   "snapshot-leave-running DIR" -> the same, and the VM goes on
// and hvrun exec (engine/vm_exec.hpp): a client sends an exec message
// (contract/control.hpp, its id ignored) and then exec_stdin, exec_eof,
// exec_signal, exec_winsize for its session; it gets that session's
// exec_output, exec_read and exec_exit events (or "error: WHY"). The
// server numbers the sessions (the id a client writes is replaced); a
// connection runs one session, and a client that leaves early has its
// session's stdin closed and, with a terminal, a SIGHUP sent (the process
// goes on unless that ends it, as with docker exec).
// A client that disconnects releases what it holds, so a killed client
// never leaves the guest frozen; so does the server when it stops.
// How long an exec start sent to a booting VM waits for its guest.
inline constexpr std::chrono::seconds kExecReadyWait{120};

class FreezeServer {
 public:
  // Takes a snapshot into a directory: "snapshotted" or "error: WHY";
  // leave_running: the VM goes on afterwards (else it stops).
  using SnapshotHook = std::function<std::string(const std::string& dir, bool leave_running)>;
  // Listens on `path` (an old file there is replaced; mode 0600). Throws
  // Error naming the path when it cannot. Without a snapshot hook,
  // snapshot requests are refused.
  FreezeServer(std::string path, GuestChannel& guest,
               std::chrono::milliseconds guest_timeout = std::chrono::seconds(30), SnapshotHook snapshot = {});
  ~FreezeServer();  // stops serving, thaws, removes the socket
  FreezeServer(const FreezeServer&) = delete;
  FreezeServer& operator=(const FreezeServer&) = delete;

 private:
  // How lines reach a client, from the serving thread (answers) and the
  // guest channel's reader thread (its session's events) alike: one at a
  // time, each whole. A client that does not take a line within 10 s is
  // cut off (shutdown: it reads EOF) rather than hold the guest's output up.
  struct Writer {
    UniqueFd fd;  // a dup of the client's: it outlives the Client if a session does
    std::mutex mu;
    bool broken = false;
    bool send(const std::string& line);  // false once cut off
  };
  struct Client {
    UniqueFd fd;
    std::shared_ptr<Writer> writer;
    contract::LineBuffer lines;
    bool holds = false;
    unsigned session = 0;  // its exec session; 0: none
    bool had_session = false;
    bool tty = false;      // its session has a terminal
    // An exec start that came before the guest was ready: it waits here
    // (and the client's later lines in `lines`, unread) until it is.
    std::optional<std::string> pending_start;
    std::chrono::steady_clock::time_point pending_since;
  };
  void serve();
  // Answers the client's buffered lines in order; stops at an exec start
  // that must wait for the guest (pending_start).
  void take_lines(Client& c);
  // A pending start: sent once the guest is ready, refused when the VM
  // ended or after kExecReadyWait. False while it still waits.
  bool settle_pending(Client& c);
  std::string handle(Client& c, const std::string& request);
  std::string handle_exec(Client& c, const std::string& line);  // "" or the answer
  void end_session(Client& c);
  void on_exec_event(const contract::GuestEvent& e);  // the reader thread
  std::string release(Client& c);  // "" or why the thaw failed

  std::string path_;
  GuestChannel& guest_;
  std::chrono::milliseconds timeout_;
  SnapshotHook snapshot_;
  UniqueFd listen_;
  Pipe stop_;
  std::vector<std::unique_ptr<Client>> clients_;  // the serving thread's own
  unsigned holders_ = 0;
  unsigned next_session_ = 1;
  std::mutex sessions_mu_;
  std::map<unsigned, std::shared_ptr<Writer>> sessions_;
  std::thread thread_;
};

// Connects to a monitor's control socket: an invalid fd when nothing
// listens there (no socket: the VM is not running, or its monitor predates
// this hvrun). Throws Error on any other failure.
UniqueFd connect_control(const std::string& path);


// Sends one request line on a connection to a monitor's control socket and
// returns the answer line (without its newline). Throws Error when the
// monitor does not answer within `timeout` or goes first.
std::string ask_control(int fd, contract::LineBuffer& lines, const std::string& request,
                        std::chrono::milliseconds timeout);

// A client's hold on a running microVM's freeze (engine/changes.cpp).
class VmFreeze {
 public:
  // Connects to the monitor's socket; nullptr when nothing listens there
  // (no socket: the VM is not running, or its monitor predates this hvrun).
  // Throws Error on any other failure.
  static std::unique_ptr<VmFreeze> connect(const std::string& path);
  ~VmFreeze() = default;  // the disconnect thaws (FreezeServer)
  VmFreeze(const VmFreeze&) = delete;
  VmFreeze& operator=(const VmFreeze&) = delete;

  // Freezes; throws Error with the monitor's or guest's reason.
  void freeze(std::chrono::milliseconds timeout = std::chrono::seconds(70));
  // Thaws and waits for the answer; "" or why it failed. Never throws.
  std::string thaw(std::chrono::milliseconds timeout = std::chrono::seconds(70));

 private:
  explicit VmFreeze(UniqueFd fd) : fd_(std::move(fd)) {}
  // Sends `request` and returns the answer line; throws Error.
  std::string ask(const std::string& request, std::chrono::milliseconds timeout);
  UniqueFd fd_;
  contract::LineBuffer lines_;
};

}  // namespace hvrun::engine
