// guest-init's exec sessions (guest-init/exec.cpp) against a real container
// on this host (root, no KVM): what a microVM's guest-init does when the
// host asks it to run a process in the workload's container. The control
// channel is a socketpair; this test plays the host.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <chrono>
#include <csignal>
#include <functional>

#include "container/runtime.hpp"
#include "contract/control.hpp"
#include "guest-init/exec.hpp"
#include "image/layer.hpp"
#include "tests/unit/container_test_util.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::guestinit {
namespace {

using namespace std::chrono_literals;
using container::testing::base_spec;

// A running busybox container, its exec sessions and the host's end of the
// control channel.
class GuestInitExec : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts and cgroups)";
    // As guest-init's main: input for a process that has already exited
    // (an extract that refused its tar) is EPIPE, not a fatal SIGPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    spec_ = base_spec({"/bin/sleep", "60"});
    spec_.hostname = "in-the-vm";
    c_ = std::make_unique<container::Container>(container::Container::start(spec_, container::Stdio{}));
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    host_.reset(sv[0]);
    ::fcntl(sv[0], F_SETFL, O_NONBLOCK);  // guest-init's end blocks, as hvc2 does
    guest_.reset(sv[1]);
    sessions_ = std::make_unique<ExecSessions>(spec_, c_->pid(), guest_.get());
  }
  void TearDown() override {
    sessions_.reset();
    if (c_) {
      c_->kill(SIGKILL);
      c_->wait();
      container::cleanup(spec_.id, spec_.cgroup_parent);
    }
  }

  contract::ExecStartMsg exec(unsigned id, std::vector<std::string> args) {
    contract::ExecStartMsg m;
    m.id = id;
    m.spec.args = std::move(args);
    m.spec.env = {"PATH=/bin:/usr/bin", "WHO=exec"};
    return m;
  }

  // Runs guest-init's loop (poll, dispatch) until `done` holds for the
  // events received so far, or 10 s pass.
  bool pump_until(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      take_events();
      if (done()) return true;
      std::vector<pollfd> p;
      sessions_->poll_fds(p);
      if (::poll(p.data(), p.size(), 20) >= 0) sessions_->dispatch(p, 0);  // a timeout too, as guest-init does
    }
    take_events();
    return done();
  }
  void take_events() {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(host_.get(), buf, sizeof buf);
      if (n <= 0) break;
      lines_.append({buf, size_t(n)});
    }
    while (auto line = lines_.next()) {
      std::string why;
      auto e = contract::decode_guest_event(*line, &why);
      ASSERT_TRUE(e) << *line << ": " << why;
      if (auto* o = std::get_if<contract::ExecOutputEvent>(&*e)) {
        EXPECT_FALSE(exits_.count(o->id)) << "output after the exit of session " << o->id;
        out_[o->id][o->fd] += o->data;
      } else if (auto* r = std::get_if<contract::ExecReadEvent>(&*e)) {
        taken_[r->id] += r->bytes;
      } else if (auto* x = std::get_if<contract::ExecExitEvent>(&*e)) {
        EXPECT_FALSE(exits_.count(x->id)) << "two exits for session " << x->id;
        exits_[x->id] = *x;
      }
    }
  }
  std::function<bool()> exited(unsigned id) {
    return [this, id] { return exits_.count(id) > 0; };
  }

  container::RunSpec spec_;
  std::unique_ptr<container::Container> c_;
  UniqueFd host_, guest_;
  std::unique_ptr<ExecSessions> sessions_;
  contract::LineBuffer lines_;
  std::map<unsigned, std::map<int, std::string>> out_;  // session -> fd -> bytes
  std::map<unsigned, contract::ExecExitEvent> exits_;
  std::map<unsigned, uint64_t> taken_;  // exec_read acknowledgements
};

TEST_F(GuestInitExec, RunsInTheWorkloadsContainerAndSendsItsOutputThenItsExitStatus) {
  sessions_->handle(exec(1, {"/bin/sh", "-c", "hostname; echo $WHO; echo oops >&2; "
                                              "ps -o comm | grep -c sleep; exit 3"}));
  ASSERT_TRUE(pump_until(exited(1)));
  EXPECT_EQ(out_[1][1], "in-the-vm\nexec\n1\n");
  EXPECT_EQ(out_[1][2], "oops\n");
  EXPECT_EQ(exits_[1].code, 3);
  EXPECT_EQ(exits_[1].signal, 0);
  EXPECT_EQ(exits_[1].error, "");
  EXPECT_EQ(sessions_->size(), 0u);
}

TEST_F(GuestInitExec, StdinFlowsInAndItsEofEndsTheReader) {
  auto m = exec(2, {"/bin/sh", "-c", "wc -c; cat"});
  m.stdin_open = true;
  sessions_->handle(m);
  std::string big(200000, 'x');  // more than a pipe holds: written as the process reads
  for (size_t i = 0; i < big.size(); i += contract::kExecChunk)
    sessions_->handle(contract::ExecInputMsg{2, big.substr(i, contract::kExecChunk)});
  sessions_->handle(contract::ExecEofMsg{2});
  ASSERT_TRUE(pump_until(exited(2)));
  EXPECT_EQ(out_[2][1], "200000\n");
  EXPECT_EQ(exits_[2].code, 0);
  EXPECT_EQ(taken_[2], big.size()) << "every byte the process took is acknowledged, once";
}

// docker cp into the microVM: the session's input is a tar that guest-init
// unpacks into the container's root (here /tmp of the busybox rootfs).
TEST_F(GuestInitExec, AnExtractSessionUnpacksItsInputInsideTheContainersRootAndReportsAMissingDirectory) {
  const std::string tar_path = "/tmp/hvrun-guestinit-extract-test.tar";
  {
    UniqueFd t(::open(tar_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(t);
    image::write_file_tar("copied", "into-the-container\n", 0640, t.get());
  }
  const std::string tar = read_file(tar_path);
  ::unlink(tar_path.c_str());
  auto m = exec(4, {"hvrun-cp"});
  m.stdin_open = true;
  m.extract_to = "/tmp";
  sessions_->handle(m);
  sessions_->handle(contract::ExecInputMsg{4, tar});
  sessions_->handle(contract::ExecEofMsg{4});
  ASSERT_TRUE(pump_until(exited(4)));
  EXPECT_EQ(exits_[4].code, 0) << out_[4][2];
  sessions_->handle(exec(5, {"/bin/sh", "-c", "cat /tmp/copied; stat -c '%a %u' /tmp/copied"}));
  ASSERT_TRUE(pump_until(exited(5)));
  EXPECT_EQ(out_[5][1], "into-the-container\n640 0\n");
  // A destination that is not there, and input that is no tar.
  m.id = 6;
  m.extract_to = "/no/such";
  sessions_->handle(m);
  sessions_->handle(contract::ExecInputMsg{6, tar});
  sessions_->handle(contract::ExecEofMsg{6});
  ASSERT_TRUE(pump_until(exited(6)));
  EXPECT_EQ(exits_[6].code, 1);
  EXPECT_EQ(out_[6][2], "no such directory: /no/such\n");
  m.id = 7;
  m.extract_to = "/tmp";
  sessions_->handle(m);
  sessions_->handle(contract::ExecInputMsg{7, "not a tar at all"});
  sessions_->handle(contract::ExecEofMsg{7});
  ASSERT_TRUE(pump_until(exited(7)));
  EXPECT_EQ(exits_[7].code, 1);
  EXPECT_NE(out_[7][2].find("the archive for /tmp: not a tar archive"), std::string::npos) << out_[7][2];
}

TEST_F(GuestInitExec, InputForASessionWithoutStdinIsAcknowledgedAndDropped) {
  sessions_->handle(exec(12, {"/bin/sleep", "0.2"}));
  sessions_->handle(contract::ExecInputMsg{12, "ignored"});
  ASSERT_TRUE(pump_until(exited(12)));
  EXPECT_EQ(taken_[12], 7u);
}

TEST_F(GuestInitExec, AProcessThatLeftAChildHoldingItsOutputIsReportedSoonAfterItExits) {
  const auto t0 = std::chrono::steady_clock::now();
  sessions_->handle(exec(13, {"/bin/sh", "-c", "sleep 30 & echo started; exit 4"}));
  ASSERT_TRUE(pump_until(exited(13)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 6s);
  EXPECT_EQ(out_[13][1], "started\n");
  EXPECT_EQ(exits_[13].code, 4);
}

TEST_F(GuestInitExec, OutputWaitsInTheQueueWhileTheHostDoesNotReadAndNothingIsLost) {
  // The host reads nothing for a while: guest-init keeps serving (no
  // blocking write), the process is held back, then everything arrives.
  sessions_->handle(exec(14, {"/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' y; echo; echo done"}));
  const auto until = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < until) {
    std::vector<pollfd> p;
    sessions_->poll_fds(p);
    const auto t = std::chrono::steady_clock::now();
    if (::poll(p.data(), p.size(), 20) >= 0) sessions_->dispatch(p, 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t, 500ms) << "guest-init blocked";
  }
  ASSERT_TRUE(pump_until(exited(14)));
  EXPECT_EQ(out_[14][1].size(), 3000000u + 6);
  EXPECT_EQ(out_[14][1].substr(out_[14][1].size() - 6), "\ndone\n");
  EXPECT_EQ(out_[14][1].find_first_not_of('y'), 3000000u);
}

TEST_F(GuestInitExec, WithoutStdinTheProcessReadsEofAtOnce) {
  sessions_->handle(exec(3, {"/bin/cat"}));
  ASSERT_TRUE(pump_until(exited(3)));
  EXPECT_EQ(out_[3][1], "");
  EXPECT_EQ(exits_[3].code, 0);
}

TEST_F(GuestInitExec, AMissingCommandIs127AndANonExecutableOne126WithTheReason) {
  sessions_->handle(exec(4, {"/no/such/thing"}));
  sessions_->handle(exec(5, {"/etc/passwd"}));
  ASSERT_TRUE(pump_until([&] { return exits_.count(4) && exits_.count(5); }));
  EXPECT_EQ(exits_[4].code, 127);
  EXPECT_NE(exits_[4].error.find("/no/such/thing"), std::string::npos) << exits_[4].error;
  EXPECT_EQ(exits_[5].code, 126);
  EXPECT_FALSE(exits_[5].error.empty());
  EXPECT_EQ(sessions_->size(), 0u);
}

TEST_F(GuestInitExec, ASignalFromTheHostEndsTheProcessAndTheExitSaysWhichSignal) {
  sessions_->handle(exec(6, {"/bin/sleep", "30"}));
  ASSERT_EQ(sessions_->size(), 1u);
  sessions_->handle(contract::ExecSignalMsg{6, SIGTERM});
  ASSERT_TRUE(pump_until(exited(6)));
  EXPECT_EQ(exits_[6].signal, SIGTERM);
  EXPECT_EQ(exits_[6].code, 128 + SIGTERM);
}

TEST_F(GuestInitExec, ATtySessionHasATerminalOfTheAskedSizeAndFollowsResizes) {
  auto m = exec(7, {"/bin/sh", "-c", "stty size; read x; stty size; echo got-$x"});
  m.spec.tty = true;
  m.spec.tty_rows = 33;
  m.spec.tty_cols = 77;
  m.stdin_open = true;
  sessions_->handle(m);
  ASSERT_TRUE(pump_until([&] { return out_[7][1].find("33 77") != std::string::npos; })) << out_[7][1];
  sessions_->handle(contract::ExecWinsizeMsg{7, 50, 120});
  sessions_->handle(contract::ExecInputMsg{7, "hi\n"});
  ASSERT_TRUE(pump_until(exited(7))) << out_[7][1];
  EXPECT_NE(out_[7][1].find("50 120"), std::string::npos) << out_[7][1];
  EXPECT_NE(out_[7][1].find("got-hi"), std::string::npos) << out_[7][1];
  EXPECT_EQ(out_[7].count(2), 0u) << "a tty's output is all on fd 1";
  EXPECT_EQ(exits_[7].code, 0);
}

TEST_F(GuestInitExec, SessionsRunSideBySideAndMessagesForUnknownOrReusedIdsChangeNothing) {
  sessions_->handle(exec(8, {"/bin/sh", "-c", "sleep 0.3; echo eight"}));
  sessions_->handle(exec(9, {"/bin/sh", "-c", "echo nine"}));
  sessions_->handle(exec(8, {"/bin/sh", "-c", "echo reused"}));  // id taken: ignored
  sessions_->handle(contract::ExecSignalMsg{99, SIGKILL});       // no such session
  sessions_->handle(contract::ExecInputMsg{99, "x"});
  sessions_->handle(contract::ExecEofMsg{99});
  EXPECT_EQ(sessions_->size(), 2u);
  ASSERT_TRUE(pump_until([&] { return exits_.count(8) && exits_.count(9); }));
  EXPECT_EQ(out_[8][1], "eight\n");
  EXPECT_EQ(out_[9][1], "nine\n");
}

TEST_F(GuestInitExec, WhenTheWorkloadEndsEveryOpenSessionIsReportedKilled) {
  sessions_->handle(exec(10, {"/bin/sleep", "30"}));
  sessions_->handle(exec(11, {"/bin/sh", "-c", "echo before; exec sleep 30"}));
  ASSERT_TRUE(pump_until([&] { return out_[11][1] == "before\n"; }));
  // The pid namespace's init ends: the kernel kills the rest, and init's
  // exit waits until they are reaped (they are guest-init's children, as
  // here), so the sessions are finished before the workload is waited for.
  c_->kill(SIGKILL);
  const auto t0 = std::chrono::steady_clock::now();
  sessions_->finish_all();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  c_->wait();
  take_events();
  ASSERT_TRUE(exits_.count(10) && exits_.count(11));
  EXPECT_EQ(exits_[10].signal, SIGKILL);
  EXPECT_EQ(exits_[11].signal, SIGKILL);
  EXPECT_EQ(sessions_->size(), 0u);
  container::cleanup(spec_.id, spec_.cgroup_parent);
  c_.reset();
}

}  // namespace
}  // namespace hvrun::guestinit
