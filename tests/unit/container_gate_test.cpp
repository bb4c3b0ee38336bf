// Container::create and open_gate: the OCI create/start split (hvrun-oci).
// A created init is fully set up and waits at its exec FIFO; opening the
// FIFO lets it exec; a detached init outlives the process that created it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "container_test_util.hpp"
#include "util/error.hpp"

namespace hvrun::container::testing {
namespace {

std::string make_fifo(const std::string& dir) {
  std::string f = dir + "/exec.fifo";
  if (::mkfifo(f.c_str(), 0622) < 0) throw_sys("mkfifo", f);
  return f;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

// The init's /proc/PID/cmdline, argv[0] only.
std::string argv0(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string a;
  std::getline(in, a, '\0');
  return a;
}

bool readable_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

TEST(ContainerGate, ACreatedInitWaitsAtItsGateUntilTheFifoIsOpened) {
  HVRUN_REQUIRE_ROOT();
  std::string dir = scratch_dir("gate");
  std::string fifo = make_fifo(dir);
  auto s = base_spec({"/bin/sh", "-c", "echo ran as $$ in $(hostname)"});
  s.hostname = "gated";
  Pipe out = Pipe::make();
  Container c = Container::create(s, Stdio{-1, out.write.get(), out.write.get()}, Gate{fifo, false});
  out.write.reset();
  // Set up but not exec'd: still our own binary, nothing written yet.
  EXPECT_TRUE(alive(c.pid()));
  EXPECT_NE(argv0(c.pid()), "/bin/sh");
  EXPECT_FALSE(readable_within(out.read.get(), 300)) << "the workload ran before its gate opened";
  EXPECT_TRUE(open_gate(fifo, [&] { return alive(c.pid()); }));
  EXPECT_EQ(read_all(out.read.get()), "ran as 1 in gated\n");
  ExitStatus st = c.wait();
  EXPECT_EQ(st.exit_code(), 0);
  cleanup(s.id, s.cgroup_parent);
}

TEST(ContainerGate, AMissingCommandIsRefusedAtCreateWith127) {
  HVRUN_REQUIRE_ROOT();
  std::string fifo = make_fifo(scratch_dir("gate"));
  auto s = base_spec({"/no/such/program"});
  try {
    Container::create(s, Stdio{}, Gate{fifo, false});
    ADD_FAILURE() << "create of a missing command succeeded";
  } catch (const ExitError& e) {
    EXPECT_EQ(e.exit_status(), 127) << e.what();
    EXPECT_NE(std::string(e.what()).find("/no/such/program"), std::string::npos) << e.what();
  }
  cleanup(s.id, s.cgroup_parent);
}

TEST(ContainerGate, OpenGateSaysFalseWhenTheInitDiedBeforeItsStart) {
  HVRUN_REQUIRE_ROOT();
  std::string fifo = make_fifo(scratch_dir("gate"));
  auto s = base_spec({"/bin/true"});
  Container c = Container::create(s, Stdio{}, Gate{fifo, false});
  pid_t pid = c.pid();
  c.kill(SIGKILL);
  EXPECT_EQ(c.wait().signal, SIGKILL);
  EXPECT_FALSE(open_gate(fifo, [&] { return alive(pid); }));
  cleanup(s.id, s.cgroup_parent);
}

TEST(ContainerGate, ADetachedInitOutlivesItsCreatorAndRunsWhenStarted) {
  HVRUN_REQUIRE_ROOT();
  std::string dir = scratch_dir("gate");
  std::string fifo = make_fifo(dir);
  auto s = base_spec({"/bin/sh", "-c", "echo started > /out/word"});
  s.mounts.push_back({dir, "/out", false});
  // We stand in for conmon/containerd-shim: the orphaned init becomes ours.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  Pipe p = Pipe::make();
  pid_t creator = ::fork();
  if (creator == 0) {
    pid_t pid = -1;
    try {
      Container c = Container::create(s, Stdio{}, Gate{fifo, true});
      pid = c.release();
    } catch (...) {
    }
    (void)!::write(p.write.get(), &pid, sizeof pid);
    ::_exit(0);
  }
  p.write.reset();
  pid_t init = -1;
  ASSERT_EQ(::read(p.read.get(), &init, sizeof init), ssize_t(sizeof init));
  int st;
  ASSERT_EQ(::waitpid(creator, &st, 0), creator);
  ASSERT_GT(init, 0) << "create failed in the creator";
  ::usleep(200 * 1000);
  EXPECT_TRUE(alive(init)) << "the detached init died with its creator";
  EXPECT_FALSE(path_exists(dir + "/word"));
  EXPECT_TRUE(open_gate(fifo, [&] { return alive(init); }));
  ASSERT_EQ(::waitpid(init, &st, 0), init);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  EXPECT_EQ(read_file(dir + "/word"), "started\n");
  ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  cleanup(s.id, s.cgroup_parent);
}

}  // namespace
}  // namespace hvrun::container::testing
