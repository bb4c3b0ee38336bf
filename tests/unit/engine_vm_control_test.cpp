// Freezing a running microVM from another hvrun process (engine/vm_control):
// the monitor's GuestChannel and FreezeServer, and the client VmFreeze, with
// a fake guest-init on the far end of a socketpair (what hvc2 is through
// hvrun-vmm's relay).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "contract/control.hpp"
#include "engine/vm_control.hpp"
#include "tests/unit/image_test_util.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

using namespace hvrun;
using namespace hvrun::engine;
using namespace std::chrono_literals;

namespace {

// guest-init's side of the control channel: answers freeze messages as
// guest-init does (or stays silent, or answers late), counts signals.
// Sends all of `s` over a socket; a peer gone is false, never SIGPIPE
// (the guest's end may still answer after the test closed the host's end).
bool send_line(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(size_t(n));
  }
  return true;
}

class FakeGuest {
 public:
  FakeGuest() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) throw std::runtime_error("socketpair");
    host_.reset(sv[0]);
    guest_.reset(sv[1]);
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeGuest() { close(); }
  // The host's end, for a GuestChannel.
  UniqueFd take_host_end() { return std::move(host_); }
  void say(const contract::GuestEvent& e) { (void)send_line(guest_.get(), contract::encode(e)); }
  // The guest goes away (the VM ended).
  void close() {
    if (thread_.joinable()) {
      ::shutdown(guest_.get(), SHUT_RDWR);
      thread_.join();
    }
    guest_.reset();
  }

  std::atomic<bool> frozen{false};
  std::atomic<bool> silent{false};         // answer nothing
  std::atomic<int> delay_ms{0};            // answer this late
  std::atomic<int> freezes{0}, thaws{0}, signals{0};
  std::string fail_freeze_with;            // set before use

 private:
  void loop() {
    contract::LineBuffer lines;
    char buf[512];
    for (;;) {
      ssize_t n = ::read(guest_.get(), buf, sizeof buf);
      if (n <= 0) return;
      lines.append({buf, size_t(n)});
      while (auto line = lines.next()) {
        auto m = contract::decode_host_message(*line);
        if (!m) continue;
        if (std::holds_alternative<contract::SignalMsg>(*m)) ++signals;
        if (contract::exec_session(*m)) {
          exec(*m);
          continue;
        }
        auto* f = std::get_if<contract::FreezeMsg>(&*m);
        if (!f) continue;
        ++(f->freeze ? freezes : thaws);
        if (silent) continue;
        if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
        contract::FrozenEvent ev;
        if (f->freeze && !fail_freeze_with.empty()) {
          ev.error = fail_freeze_with;
        } else {
          frozen = f->freeze;
        }
        ev.frozen = frozen;
        say(ev);
      }
    }
  }
  // A pretend exec: the output says what came; stdin is echoed; eof ends
  // the session with status 3, a signal with that signal.
  void exec(const contract::HostMessage& m) {
    const unsigned id = *contract::exec_session(m);
    {
      std::lock_guard<std::mutex> lk(mu);
      exec_log.push_back(contract::encode(m));
    }
    if (const auto* s = std::get_if<contract::ExecStartMsg>(&m)) {
      if (s->spec.args[0] == "nope") return say(contract::ExecExitEvent{id, 127, 0, "exec: nope: not found"});
      say(contract::ExecOutputEvent{id, 1, "started " + s->spec.args[0] + "\n"});
      say(contract::ExecOutputEvent{id, 2, "on stderr\n"});
    } else if (const auto* in = std::get_if<contract::ExecInputMsg>(&m)) {
      say(contract::ExecOutputEvent{id, 1, in->data});
    } else if (std::holds_alternative<contract::ExecEofMsg>(m)) {
      say(contract::ExecExitEvent{id, 3, 0, ""});
    } else if (const auto* sig = std::get_if<contract::ExecSignalMsg>(&m)) {
      say(contract::ExecExitEvent{id, 128 + sig->signal, sig->signal, ""});
    }
  }
  UniqueFd host_, guest_;
  std::thread thread_;

 public:
  std::mutex mu;
  std::vector<std::string> exec_log;  // the exec messages that came, encoded
};

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds within = 5s) {
  auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

TEST(GuestChannel, FreezeAnswersGoToTheRequestAndEveryOtherLineWaitsForFinish) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  g.say(contract::ReadyEvent{});
  auto ev = ch.request_freeze(true, 5s);
  EXPECT_TRUE(ev.error.empty()) << ev.error;
  EXPECT_TRUE(ev.frozen);
  EXPECT_TRUE(g.frozen);
  EXPECT_TRUE(ch.send(contract::SignalMsg{15}));
  ev = ch.request_freeze(false, 5s);
  EXPECT_TRUE(ev.error.empty()) << ev.error;
  EXPECT_FALSE(ev.frozen);
  EXPECT_FALSE(g.frozen);
  EXPECT_TRUE(eventually([&] { return g.signals == 1; }));
  g.say(contract::ExitEvent{3, 0, false, ""});
  g.close();
  // What wait() reads: the ready and exit events, no frozen event.
  std::string rest = ch.finish();
  EXPECT_EQ(rest, "{\"event\":\"ready\"}\n{\"code\":3,\"event\":\"exit\",\"oom\":false,\"signal\":0}\n");
}

TEST(GuestChannel, AnUnansweredRequestTimesOutAndItsLateAnswerIsNotTakenForTheNext) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  g.delay_ms = 400;
  auto ev = ch.request_freeze(true, 100ms);
  EXPECT_NE(ev.error.find("did not answer the freeze request within 100 ms"), std::string::npos) << ev.error;
  // The late "frozen: true" is dropped; the thaw gets its own answer.
  g.delay_ms = 0;
  ev = ch.request_freeze(false, 5s);
  EXPECT_TRUE(ev.error.empty()) << ev.error;
  EXPECT_FALSE(ev.frozen);
}

TEST(GuestChannel, ARequestToAVmThatEndedFailsAtOnceSayingSo) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  g.silent = true;
  std::thread ender([&] {
    std::this_thread::sleep_for(100ms);
    g.close();
  });
  auto t0 = std::chrono::steady_clock::now();
  auto ev = ch.request_freeze(true, 20s);
  ender.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_NE(ev.error.find("stopped"), std::string::npos) << ev.error;
  ev = ch.request_freeze(false, 20s);
  EXPECT_NE(ev.error.find("the VM has stopped"), std::string::npos) << ev.error;
  EXPECT_EQ(ch.finish(), "");
}

TEST(GuestChannel, LinesFromManyThreadsReachTheGuestWhole) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 200; ++i) ch.send(contract::SignalMsg{10});
    });
  auto ev = ch.request_freeze(true, 5s);
  for (auto& t : ts) t.join();
  EXPECT_TRUE(ev.frozen) << ev.error;
  EXPECT_TRUE(eventually([&] { return g.signals == 800; })) << g.signals;
}

class FreezeServerTest : public ::testing::Test {
 protected:
  image::testing::Tmp tmp;
  std::string path = tmp.path + "/control.sock";
};

TEST_F(FreezeServerTest, AClientFreezesAndThawsTheGuestThroughAPrivateSocket) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  {
    FreezeServer srv(path, ch, 5s);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto c = VmFreeze::connect(path);
    ASSERT_TRUE(c);
    c->freeze(5s);
    EXPECT_TRUE(g.frozen);
    EXPECT_EQ(c->thaw(5s), "");
    EXPECT_FALSE(g.frozen);
    c->freeze(5s);
    EXPECT_TRUE(g.frozen);
  }
  // The server stopped with a client still holding the freeze: thawed, and
  // the socket is gone.
  EXPECT_FALSE(g.frozen);
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  EXPECT_EQ(VmFreeze::connect(path), nullptr);
}

TEST_F(FreezeServerTest, AClientThatGoesAwayNeverLeavesTheGuestFrozen) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  FreezeServer srv(path, ch, 5s);
  {
    auto c = VmFreeze::connect(path);
    ASSERT_TRUE(c);
    c->freeze(5s);
    EXPECT_TRUE(g.frozen);
  }  // disconnected without a thaw (a killed hvrun commit)
  EXPECT_TRUE(eventually([&] { return !g.frozen; }));
  EXPECT_EQ(g.thaws, 1);
}

TEST_F(FreezeServerTest, TheGuestStaysFrozenUntilItsLastHolderLetsGo) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  FreezeServer srv(path, ch, 5s);
  auto a = VmFreeze::connect(path), b = VmFreeze::connect(path);
  ASSERT_TRUE(a && b);
  a->freeze(5s);
  b->freeze(5s);
  EXPECT_EQ(g.freezes, 1) << "the second holder joins the freeze";
  EXPECT_EQ(a->thaw(5s), "");
  EXPECT_TRUE(g.frozen);
  b.reset();
  EXPECT_TRUE(eventually([&] { return !g.frozen; }));
  EXPECT_EQ(g.thaws, 1);
}

TEST_F(FreezeServerTest, TheGuestsReasonReachesTheClientAndNothingStaysFrozen) {
  FakeGuest g;
  g.fail_freeze_with = "FIFREEZE /mnt/rw: Operation not supported";
  GuestChannel ch(g.take_host_end());
  FreezeServer srv(path, ch, 5s);
  auto c = VmFreeze::connect(path);
  ASSERT_TRUE(c);
  try {
    c->freeze(5s);
    FAIL() << "freeze succeeded";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "FIFREEZE /mnt/rw: Operation not supported");
  }
  EXPECT_FALSE(g.frozen);
  EXPECT_TRUE(eventually([&] { return g.thaws == 1; })) << "a failed freeze is followed by a thaw, to be sure";
}

TEST_F(FreezeServerTest, ASilentGuestIsAnErrorAfterTheTimeoutNotAHang) {
  FakeGuest g;
  g.silent = true;
  GuestChannel ch(g.take_host_end());
  FreezeServer srv(path, ch, 200ms);
  auto c = VmFreeze::connect(path);
  ASSERT_TRUE(c);
  try {
    c->freeze(10s);
    FAIL() << "freeze succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did not answer the freeze request within 200 ms"), std::string::npos)
        << e.what();
  }
}

TEST_F(FreezeServerTest, AVmThatEndsWhileAClientWaitsEndsTheWait) {
  FakeGuest g;
  g.silent = true;
  GuestChannel ch(g.take_host_end());
  FreezeServer srv(path, ch, 30s);
  auto c = VmFreeze::connect(path);
  ASSERT_TRUE(c);
  std::thread ender([&] {
    std::this_thread::sleep_for(200ms);
    g.close();
  });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(c->freeze(60s), Error);
  ender.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST_F(FreezeServerTest, UnknownRequestsAreRefusedAndTheConnectionServesOn) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  FreezeServer srv(path, ch, 5s);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, path.c_str());
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_TRUE(write_all(fd.get(), "bogus\nfreeze\r\nthaw\n"));
  std::string got;
  char buf[256];
  while (std::count(got.begin(), got.end(), '\n') < 3) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, size_t(n));
  }
  EXPECT_EQ(got, "error: unknown request 'bogus' (freeze, thaw, snapshot DIR or snapshot-leave-running DIR)\nfrozen\nthawed\n");
}

// Sends `lines` on one connection to the server at `path` and returns the
// first `answers` answer lines.
std::string ask_raw(const std::string& path, const std::string& lines, int answers) {
  UniqueFd fd = connect_control(path);
  EXPECT_TRUE(fd);
  if (!fd) return "";
  EXPECT_TRUE(write_all(fd.get(), lines));
  std::string got;
  char buf[256];
  while (std::count(got.begin(), got.end(), '\n') < answers) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, size_t(n));
  }
  return got;
}

TEST_F(FreezeServerTest, ASnapshotRequestReachesTheHookWithItsDirectoryAndTheHooksAnswerComesBack) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  std::vector<std::string> dirs;
  FreezeServer srv(path, ch, 5s, [&](const std::string& dir, bool leave_running) {
    dirs.push_back(dir + (leave_running ? " (leave running)" : ""));
    return dir == "/fail" ? std::string("error: the VMM said no") : std::string("snapshotted");
  });
  EXPECT_EQ(ask_raw(path,
                    "snapshot /store/snapshots/.tmp-s1\nsnapshot relative\nsnapshot \nsnapshot /fail\n"
                    "snapshot-leave-running /store/snapshots/.tmp-s2\nsnapshot-leave-running x\n",
                    6),
            "snapshotted\nerror: snapshot needs an absolute directory\nerror: snapshot needs an absolute directory\n"
            "error: the VMM said no\nsnapshotted\nerror: snapshot needs an absolute directory\n");
  EXPECT_EQ(dirs, (std::vector<std::string>{"/store/snapshots/.tmp-s1", "/fail", "/store/snapshots/.tmp-s2 (leave running)"}));
}

TEST_F(FreezeServerTest, ASnapshotIsRefusedWithoutAHookOrWhileAClientHoldsTheGuestFrozen) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  {
    FreezeServer srv(path, ch, 5s);
    EXPECT_EQ(ask_raw(path, "snapshot /d\n", 1), "error: this VM's monitor takes no snapshots\n");
  }
  bool called = false;
  FreezeServer srv(path, ch, 5s, [&](const std::string&, bool) {
    called = true;
    return std::string("snapshotted");
  });
  auto holder = VmFreeze::connect(path);
  ASSERT_TRUE(holder);
  holder->freeze(5s);
  EXPECT_EQ(ask_raw(path, "snapshot /d\n", 1),
            "error: the VM's file system is frozen by another client (a commit or export of it)\n");
  EXPECT_FALSE(called);
  EXPECT_EQ(holder->thaw(5s), "");
}

TEST_F(FreezeServerTest, ASocketPathTooLongForSunPathStillWorks) {
  std::string dir = tmp.path + "/" + std::string(60, 'd') + "/" + std::string(60, 'e');
  ASSERT_EQ(image::testing::sh("mkdir -p " + dir), 0);
  std::string longpath = dir + "/control.sock";
  ASSERT_GT(longpath.size(), sizeof(sockaddr_un::sun_path));
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  FreezeServer srv(longpath, ch, 5s);
  EXPECT_EQ(::access(longpath.c_str(), F_OK), 0);
  auto c = VmFreeze::connect(longpath);
  ASSERT_TRUE(c);
  c->freeze(5s);
  EXPECT_TRUE(g.frozen);
}

TEST_F(FreezeServerTest, NothingListeningIsNullNotAnError) {
  EXPECT_EQ(VmFreeze::connect(path), nullptr);
  // A socket left by a monitor that was killed: refused, the same answer.
  {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path.c_str());
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  EXPECT_EQ(VmFreeze::connect(path), nullptr);
  // And a new monitor replaces it.
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  FreezeServer srv(path, ch, 5s);
  EXPECT_TRUE(VmFreeze::connect(path));
}

// A client of the control socket speaking exec messages, as hvrun exec does.
class ExecClient {
 public:
  explicit ExecClient(const std::string& path) : fd_(connect_control(path)) {
    if (!fd_) throw std::runtime_error("nothing listens on " + path);
    timeval tv{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(const contract::HostMessage& m) { ASSERT_TRUE(send_line(fd_.get(), contract::encode(m))); }
  void send_raw(const std::string& s) { ASSERT_TRUE(send_line(fd_.get(), s)); }
  // The next line the server sends; "" at EOF or after 5 s of silence.
  std::string line() {
    for (;;) {
      if (auto l = lines_.next()) return *l;
      char buf[4096];
      ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n <= 0) return "";
      lines_.append({buf, size_t(n)});
    }
  }
  contract::GuestEvent event() {
    std::string l = line();
    std::string why;
    auto e = contract::decode_guest_event(l, &why);
    if (!e) throw std::runtime_error("not an event: '" + l + "': " + why);
    return *e;
  }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
  contract::LineBuffer lines_;
};

contract::ExecStartMsg exec_of(const std::string& cmd, unsigned id = 0) {
  contract::ExecStartMsg m;
  m.id = id;
  m.spec.args = {cmd};
  return m;
}

TEST_F(FreezeServerTest, AnExecIsHeldUntilTheGuestSaysReadyWhileOtherClientsAreServed) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  FreezeServer srv(path, ch, 5s);
  ExecClient c(path);
  c.send(exec_of("/bin/top"));
  c.send(contract::ExecEofMsg{0});  // its next line waits with it
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard<std::mutex> lk(g.mu);
    EXPECT_TRUE(g.exec_log.empty()) << "sent to a guest still booting: " << g.exec_log.front();
  }
  // Meanwhile another client is answered, not kept waiting behind it.
  auto f = VmFreeze::connect(path);
  ASSERT_TRUE(f);
  f->freeze(5s);
  EXPECT_TRUE(g.frozen);
  f.reset();
  g.say(contract::ReadyEvent{});
  auto out = std::get<contract::ExecOutputEvent>(c.event());
  EXPECT_EQ(out.data, "started /bin/top\n");
  (void)c.event();  // its stderr line
  auto ex = std::get<contract::ExecExitEvent>(c.event());  // the held EOF reached it: it ended
  EXPECT_EQ(ex.code, 3);
}

TEST_F(FreezeServerTest, AnExecWhoseClientLeftWhileTheVmBootedNeverStarts) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  FreezeServer srv(path, ch, 5s);
  {
    ExecClient c(path);
    c.send(exec_of("/bin/rm"));
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(200ms);
  g.say(contract::ReadyEvent{});
  std::this_thread::sleep_for(300ms);
  std::lock_guard<std::mutex> lk(g.mu);
  EXPECT_TRUE(g.exec_log.empty()) << "started for a client that had gone: " << g.exec_log.front();
}

TEST_F(FreezeServerTest, AnExecToAVmThatEndsBeforeItsGuestIsReadyIsRefusedSayingSo) {
  auto g = std::make_unique<FakeGuest>();
  GuestChannel ch(g->take_host_end());
  FreezeServer srv(path, ch, 5s);
  ExecClient c(path);
  c.send(exec_of("/bin/top"));
  std::this_thread::sleep_for(100ms);
  g->close();
  EXPECT_EQ(c.line(), "error: the VM ended before its guest got ready");
}

TEST_F(FreezeServerTest, AnExecSessionGetsItsOutputAndExitUnderTheServersNumbering) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  g.say(contract::ReadyEvent{});
  FreezeServer srv(path, ch, 5s);
  ExecClient c(path);
  c.send(exec_of("/bin/top", 77));  // the client's id is replaced by the server's
  auto out = std::get<contract::ExecOutputEvent>(c.event());
  EXPECT_EQ(out.fd, 1);
  EXPECT_EQ(out.data, "started /bin/top\n");
  const unsigned id = out.id;
  EXPECT_NE(id, 77u);
  auto err = std::get<contract::ExecOutputEvent>(c.event());
  EXPECT_EQ(err.fd, 2);
  c.send(contract::ExecInputMsg{0, std::string("bin\0ary\n", 8)});
  auto echo = std::get<contract::ExecOutputEvent>(c.event());
  EXPECT_EQ(echo.data, std::string("bin\0ary\n", 8));
  EXPECT_EQ(echo.id, id);
  c.send(contract::ExecEofMsg{0});
  auto ex = std::get<contract::ExecExitEvent>(c.event());
  EXPECT_EQ(ex.code, 3);
  std::lock_guard<std::mutex> lk(g.mu);
  ASSERT_EQ(g.exec_log.size(), 3u);
  for (int i : {0, 1}) EXPECT_NE(g.exec_log[i].find("\"id\":" + std::to_string(id)), std::string::npos) << g.exec_log[i];
  EXPECT_EQ(g.exec_log[2], "{\"exec_eof\":" + std::to_string(id) + "}\n");
}

TEST_F(FreezeServerTest, TwoClientsExecAtOnceAndEachSeesOnlyItsOwnSession) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  g.say(contract::ReadyEvent{});
  FreezeServer srv(path, ch, 5s);
  ExecClient a(path), b(path);
  a.send(exec_of("/a"));
  b.send(exec_of("/b"));
  EXPECT_EQ(std::get<contract::ExecOutputEvent>(a.event()).data, "started /a\n");
  EXPECT_EQ(std::get<contract::ExecOutputEvent>(b.event()).data, "started /b\n");
  (void)a.event();
  (void)b.event();
  for (int i = 0; i < 50; ++i) {
    a.send(contract::ExecInputMsg{0, "a" + std::to_string(i)});
    b.send(contract::ExecInputMsg{0, "b" + std::to_string(i)});
  }
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(std::get<contract::ExecOutputEvent>(a.event()).data, "a" + std::to_string(i));
    EXPECT_EQ(std::get<contract::ExecOutputEvent>(b.event()).data, "b" + std::to_string(i));
  }
  b.send(contract::ExecSignalMsg{0, SIGINT});
  auto bx = std::get<contract::ExecExitEvent>(b.event());
  EXPECT_EQ(bx.signal, SIGINT);
  a.send(contract::ExecEofMsg{0});
  EXPECT_EQ(std::get<contract::ExecExitEvent>(a.event()).code, 3);
}

TEST_F(FreezeServerTest, AnExecClientThatLeavesHasItsSessionsStdinClosedAndTheServerServesOn) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  g.say(contract::ReadyEvent{});
  FreezeServer srv(path, ch, 5s);
  {
    ExecClient c(path);
    c.send(exec_of("/bin/sh"));
    (void)c.event();
  }
  // The guest is told the session's stdin ended; its later events have
  // nowhere to go and are dropped.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lk(g.mu);
    return !g.exec_log.empty() && g.exec_log.back().rfind("{\"exec_eof\":", 0) == 0;
  }));
  ExecClient d(path);
  d.send(exec_of("/bin/true"));
  EXPECT_EQ(std::get<contract::ExecOutputEvent>(d.event()).data, "started /bin/true\n");
  auto c = VmFreeze::connect(path);
  ASSERT_TRUE(c);
  c->freeze(5s);
  EXPECT_TRUE(g.frozen);
}

TEST_F(FreezeServerTest, ExecMisuseIsRefusedWithAReasonAndARefusedStartIsAnExitEvent) {
  FakeGuest g;
  GuestChannel ch(g.take_host_end());
  g.say(contract::ReadyEvent{});
  FreezeServer srv(path, ch, 5s);
  ExecClient c(path);
  c.send(contract::ExecInputMsg{0, "x"});
  EXPECT_EQ(c.line(), "error: no exec session on this connection");
  c.send(contract::SignalMsg{9});
  EXPECT_EQ(c.line(), "error: only exec messages may be sent here");
  c.send_raw("{\"exec\":{\"id\":1}}\n");
  EXPECT_EQ(c.line().rfind("error: exec: ", 0), 0u);
  c.send(exec_of("nope"));
  auto x = std::get<contract::ExecExitEvent>(c.event());
  EXPECT_EQ(x.code, 127);
  EXPECT_EQ(x.error, "exec: nope: not found");
  ExecClient d(path);
  d.send(exec_of("/bin/sh"));
  (void)d.event();
  d.send(exec_of("/bin/sh"));
  std::string l;
  do l = d.line();
  while (l.rfind("{", 0) == 0);  // its session's output may come first
  EXPECT_EQ(l, "error: this connection already ran an exec session");
  EXPECT_EQ(ch.finish(), "{\"event\":\"ready\"}\n") << "exec events never reach the workload's stream";
}

TEST_F(FreezeServerTest, AVmThatEndsDuringAnExecEndsTheClientsConnection) {
  auto g = std::make_unique<FakeGuest>();
  GuestChannel ch(g->take_host_end());
  g->say(contract::ReadyEvent{});
  auto srv = std::make_unique<FreezeServer>(path, ch, 5s);
  ExecClient c(path);
  c.send(exec_of("/bin/sleep"));
  (void)c.event();
  (void)c.event();
  g->close();
  srv.reset();  // the monitor unwinds when the VM ends
  EXPECT_EQ(c.line(), "");
}

}  // namespace
