// hvrun-vmm's pieces (vmm/tool/): its command line (`hvrun vmm`), the launch
// config the engine hands it, the relay between monitor and guest, and how
// the engine finds the executable.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "engine/vm_backend.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/tool/args.hpp"
#include "vmm/tool/launch.hpp"
#include "vmm/tool/relay.hpp"

using namespace hvrun::vmm::tool;
using hvrun::Error;
using hvrun::UniqueFd;

namespace {

// The Error message parse_args throws for `words` ("" when it does not throw).
std::string parse_error(const std::vector<std::string>& words) {
  try {
    parse_args(words);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(VmmToolArgs, ParsesEveryOptionOfHvrunVmm) {
  Args a = parse_args({"--kernel", "/k", "--initrd", "/i", "--cmdline", "console=ttyS0 x", "--mem", "1G", "--cpus", "4",
                       "--disk", "/a.img,ro", "--disk", "/b.img", "--disk", "/c.img,rw", "--console-stdio", "--raw",
                       "--net-tap", "tap0,mac=02:00:00:00:00:01,bridge=br0", "--net-tap", "tap1", "--debug",
                       "--share", "/srv/data,tag=data", "--share", "/etc,ro,tag=etc"});
  EXPECT_EQ(a.kernel, "/k");
  EXPECT_EQ(a.initrd, "/i");
  EXPECT_EQ(a.cmdline, "console=ttyS0 x");
  EXPECT_EQ(a.mem_bytes, 1ull << 30);
  EXPECT_EQ(a.cpus, 4u);
  ASSERT_EQ(a.disks.size(), 3u);
  EXPECT_EQ(a.disks[0].path, "/a.img");
  EXPECT_TRUE(a.disks[0].readonly);
  EXPECT_EQ(a.disks[1].path, "/b.img");
  EXPECT_FALSE(a.disks[1].readonly);
  EXPECT_EQ(a.disks[2].path, "/c.img");
  EXPECT_FALSE(a.disks[2].readonly);
  EXPECT_TRUE(a.console_stdio);
  EXPECT_TRUE(a.raw);
  EXPECT_TRUE(a.debug);
  ASSERT_EQ(a.net_taps.size(), 2u);
  EXPECT_EQ(a.net_taps[0].name, "tap0");
  EXPECT_EQ(a.net_taps[0].mac, "02:00:00:00:00:01");
  EXPECT_EQ(a.net_taps[0].bridge, "br0");
  EXPECT_EQ(a.net_taps[1].mac, "52:54:00:12:34:57");  // second card's default MAC
  ASSERT_EQ(a.shares.size(), 2u);
  EXPECT_EQ(a.shares[0].path, "/srv/data");
  EXPECT_EQ(a.shares[0].tag, "data");
  EXPECT_FALSE(a.shares[0].readonly);
  EXPECT_EQ(a.shares[1].path, "/etc");
  EXPECT_EQ(a.shares[1].tag, "etc");
  EXPECT_TRUE(a.shares[1].readonly);
  EXPECT_EQ(a.launch_fd, -1);
}

TEST(VmmToolArgs, DefaultsMatchTheOldHvrunVmm) {
  Args a = parse_args({"--kernel", "/k"});
  EXPECT_EQ(a.cmdline, "console=ttyS0 reboot=k panic=1");
  EXPECT_EQ(a.mem_bytes, 256ull << 20);
  EXPECT_EQ(a.cpus, 1u);
  EXPECT_FALSE(a.console_stdio || a.raw || a.debug || a.help);
}

TEST(VmmToolArgs, TakesValuesAfterAnEqualsSign) {
  Args a = parse_args({"--kernel=/k", "--mem=512M", "--cpus=2", "--cmdline=a=b c"});
  EXPECT_EQ(a.kernel, "/k");
  EXPECT_EQ(a.mem_bytes, 512ull << 20);
  EXPECT_EQ(a.cpus, 2u);
  EXPECT_EQ(a.cmdline, "a=b c");
}

TEST(VmmToolArgs, HelpNeedsNoKernel) {
  EXPECT_TRUE(parse_args({"--help"}).help);
  EXPECT_TRUE(parse_args({"-h"}).help);
  EXPECT_NE(usage().find("--net-tap"), std::string::npos);
}

TEST(VmmToolArgs, BadInputGetsOneLineNamingTheOptionAndValue) {
  struct Case {
    std::vector<std::string> words;
    std::string want;
  } cases[] = {
      {{"--kernel", "/k", "--bogus"}, "unknown option '--bogus'"},
      {{"--kernel", "/k", "stray"}, "unexpected argument 'stray'"},
      {{"--initrd", "/i"}, "--kernel is required"},
      {{"--kernel"}, "--kernel needs a value"},
      {{"--kernel", "/k", "--mem", "lots"}, "--mem: not a size: 'lots'"},
      {{"--kernel", "/k", "--mem", "-1M"}, "--mem: not a size: '-1M'"},
      {{"--kernel", "/k", "--mem", "12T"}, "--mem: unknown size suffix in '12T'"},
      {{"--kernel", "/k", "--cpus", "two"}, "--cpus: not a whole number: 'two'"},
      {{"--kernel", "/k", "--cpus", "-3"}, "--cpus: not a whole number: '-3'"},
      {{"--kernel", "/k", "--raw=yes"}, "--raw takes no value"},
      {{"--kernel", "/k", "--net-tap", "t0,speed=10"}, "--net-tap: unknown option 'speed=10'"},
      {{"--kernel", "/k", "--net-tap", "t0,mac=zz"}, "--net-tap: bad MAC address 'zz'"},
      {{"--kernel", "/k", "--disk", ""}, "--disk: no path"},
      {{"--kernel", "/k", "--share", "/d"}, "--share: no tag in '/d'"},
      {{"--kernel", "/k", "--share", ",tag=x"}, "--share: no directory"},
      {{"--kernel", "/k", "--share", "/d,tag=x,rw=1"}, "--share: unknown option 'rw=1'"},
      {{"--launch-fd", "3", "--share", "/d,tag=x"}, "--launch-fd takes everything from the launch config"},
      {{"--launch-fd", "3", "--kernel", "/k"}, "--launch-fd takes everything from the launch config"},
  };
  for (const auto& c : cases) {
    std::string e = parse_error(c.words);
    EXPECT_NE(e.find(c.want), std::string::npos) << "got '" << e << "' for " << c.words.back();
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

TEST(VmmToolArgs, LaunchFdAloneIsEngineMode) {
  Args a = parse_args({"--launch-fd", "7"});
  EXPECT_EQ(a.launch_fd, 7);
  EXPECT_TRUE(a.kernel.empty());
}

TEST(VmmToolLaunch, RoundTripsEveryField) {
  Launch l;
  l.vm.kernel = "/k \"quoted\"";
  l.vm.initrd = "/i";
  l.vm.cmdline = "console=ttyS0 quiet";
  l.vm.mem_bytes = 384ull << 20;
  l.vm.vcpus = 3;
  l.vm.disks = {{"/img", true}, {"/rw", false}};
  l.vm.consoles = {{10, 11}, {-1, 12}, {13, 13}};
  l.vm.nics = {{14, "02:42:0a:58:00:05"}};
  l.vm.shares = {{"/srv/a", "hvrun-vol0", false}, {"/srv/b", "hvrun-vol1", true}};
  l.file_binds = {{"/etc/app.conf", "/var/lib/hvrun/containers/x/volfile2/file", true}};
  l.vm.serial_out_fd = 15;
  l.vm.serial_in_fd = -1;
  l.vm.raw_kernel = true;
  l.vm.debug = true;
  l.relay = {16, 17, 13, 18, 0, true};
  l.result_fd = 19;
  l.jail = {true, 999, 995, 20};
  Launch b = launch_from_json(launch_to_json(l), /*check_fds=*/false);
  EXPECT_EQ(b.vm.kernel, l.vm.kernel);
  EXPECT_EQ(b.vm.initrd, "/i");
  EXPECT_EQ(b.vm.cmdline, l.vm.cmdline);
  EXPECT_EQ(b.vm.mem_bytes, l.vm.mem_bytes);
  EXPECT_EQ(b.vm.vcpus, 3u);
  ASSERT_EQ(b.vm.disks.size(), 2u);
  EXPECT_EQ(b.vm.disks[0].path, "/img");
  EXPECT_TRUE(b.vm.disks[0].readonly);
  EXPECT_FALSE(b.vm.disks[1].readonly);
  ASSERT_EQ(b.vm.consoles.size(), 3u);
  EXPECT_EQ(b.vm.consoles[1].in_fd, -1);
  EXPECT_EQ(b.vm.consoles[1].out_fd, 12);
  EXPECT_EQ(b.vm.consoles[2].in_fd, 13);
  ASSERT_EQ(b.vm.nics.size(), 1u);
  EXPECT_EQ(b.vm.nics[0].tap_fd, 14);
  EXPECT_EQ(b.vm.nics[0].mac, "02:42:0a:58:00:05");
  ASSERT_EQ(b.vm.shares.size(), 2u);
  EXPECT_EQ(b.vm.shares[0].path, "/srv/a");
  EXPECT_EQ(b.vm.shares[0].tag, "hvrun-vol0");
  EXPECT_FALSE(b.vm.shares[0].readonly);
  EXPECT_EQ(b.vm.shares[1].path, "/srv/b");
  EXPECT_TRUE(b.vm.shares[1].readonly);
  ASSERT_EQ(b.file_binds.size(), 1u);
  EXPECT_EQ(b.file_binds[0].source, "/etc/app.conf");
  EXPECT_EQ(b.file_binds[0].target, "/var/lib/hvrun/containers/x/volfile2/file");
  EXPECT_TRUE(b.file_binds[0].readonly);
  EXPECT_EQ(b.vm.serial_out_fd, 15);
  EXPECT_EQ(b.vm.serial_in_fd, -1);
  EXPECT_TRUE(b.vm.raw_kernel);
  EXPECT_TRUE(b.vm.debug);
  EXPECT_EQ(b.relay.monitor, 16);
  EXPECT_EQ(b.relay.hvc2, 17);
  EXPECT_EQ(b.relay.hvc2_vmm, 13);
  EXPECT_EQ(b.relay.gate, 18);
  EXPECT_EQ(b.relay.input, 0);
  EXPECT_TRUE(b.relay.tty);
  EXPECT_FALSE(b.relay.guest_ready);  // a booted VM: input waits for guest-init's ready event
  l.relay.guest_ready = true;         // a restored one: it was ready before
  EXPECT_TRUE(launch_from_json(launch_to_json(l), false).relay.guest_ready);
  l.relay.guest_ready = false;
  EXPECT_EQ(b.result_fd, 19);
  EXPECT_TRUE(b.jail.enabled);
  EXPECT_EQ(b.jail.uid, 999u);
  EXPECT_EQ(b.jail.gid, 995u);
  EXPECT_EQ(b.jail.monitor_pidfd, 20);
  // Without a pidfd (an older launcher): -1, the VMM checks getppid().
  l.jail.monitor_pidfd = -1;
  EXPECT_EQ(launch_from_json(launch_to_json(l), false).jail.monitor_pidfd, -1);
  l.jail.enabled = false;
  EXPECT_FALSE(launch_from_json(launch_to_json(l), false).jail.enabled);
}

TEST(VmmToolLaunch, SnapshotFieldsRoundTripAndARestoreNeedsNoKernel) {
  Launch l;
  l.vm.restore_from = "/var/lib/hvrun/snapshots/s1/vm.snap";
  l.vm.snapshot_fd = 21;
  l.vm.snapshot_done_fd = 22;
  Launch b = launch_from_json(launch_to_json(l), /*check_fds=*/false);
  EXPECT_EQ(b.vm.restore_from, l.vm.restore_from);
  EXPECT_TRUE(b.vm.kernel.empty());
  EXPECT_EQ(b.vm.snapshot_fd, 21);
  EXPECT_EQ(b.vm.snapshot_done_fd, 22);
  // Without them (an older launcher): none.
  l.vm.restore_from.clear();
  l.vm.kernel = "/k";
  l.vm.snapshot_fd = l.vm.snapshot_done_fd = -1;
  b = launch_from_json(launch_to_json(l), false);
  EXPECT_EQ(b.vm.snapshot_fd, -1);
  EXPECT_EQ(b.vm.snapshot_done_fd, -1);
  EXPECT_TRUE(b.vm.restore_from.empty());
  // Neither a kernel nor a snapshot: refused.
  l.vm.kernel.clear();
  try {
    launch_from_json(launch_to_json(l), false);
    ADD_FAILURE() << "a launch config with neither a kernel nor a snapshot was accepted";
  } catch (const hvrun::Error& e) {
    EXPECT_STREQ(e.what(), "launch config: no kernel");
  }
}

TEST(VmmToolArgs, RestoreTakesOnlyDevicesBesideIt) {
  Args a = parse_args({"--restore", "/s/snap", "--disk", "/d.ext4", "--console-stdio", "--snapshot-to", "/s/next"});
  EXPECT_EQ(a.restore, "/s/snap");
  EXPECT_EQ(a.snapshot_to, "/s/next");
  EXPECT_TRUE(a.kernel.empty());
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--restore", "/s/snap", "--kernel", "/k"}, {"--restore", "/s/snap", "--mem", "1G"}, {"--restore", "/s/snap", "--cpus", "2"}}) {
    try {
      parse_args(bad);
      ADD_FAILURE() << "accepted " << bad[2];
    } catch (const hvrun::Error& e) {
      EXPECT_NE(std::string(e.what()).find("--restore takes the kernel, command line, memory and vCPUs from the snapshot"), std::string::npos)
          << e.what();
    }
  }
  try {
    parse_args({"--launch-fd", "3", "--restore", "/s/snap"});
    ADD_FAILURE() << "--launch-fd with --restore was accepted";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--launch-fd takes everything from the launch config"), std::string::npos);
  }
}

TEST(VmmToolLaunch, MalformedOrIncompleteConfigIsAClearError) {
  auto error_of = [](const std::string& text) {
    try {
      launch_from_json(text, false);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of("{not json").find("launch config: not a JSON object"), std::string::npos);
  Launch l;
  l.vm.kernel = "/k";
  auto j = nlohmann::json::parse(launch_to_json(l));
  j.erase("cmdline");
  EXPECT_NE(error_of(j.dump()).find("cmdline"), std::string::npos) << error_of(j.dump());
  j = nlohmann::json::parse(launch_to_json(l));
  j["vcpus"] = "two";
  EXPECT_NE(error_of(j.dump()).find("launch config:"), std::string::npos);
  j = nlohmann::json::parse(launch_to_json(l));
  j["kernel"] = "";
  EXPECT_EQ(error_of(j.dump()), "launch config: no kernel");
}

// Found writing tests/fuzz/vmm_launch (its UBSan build reports it):
// nlohmann's get<unsigned>() of 1e30 is undefined behaviour ("outside the
// range of representable values").
// A float in any field, wherever it is, is refused naming the field.
TEST(VmmToolLaunch, FloatsInIntegerFieldsAreRefusedNamingTheField) {
  Launch l;
  l.vm.kernel = "/k";
  l.vm.consoles = {{10, 11}};
  auto error_of = [](const nlohmann::json& j) {
    try {
      launch_from_json(j.dump(), false);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto j = nlohmann::json::parse(launch_to_json(l));
  j["vcpus"] = 1e30;
  EXPECT_EQ(error_of(j), "launch config: /vcpus must be an integer, not 1e+30");
  j = nlohmann::json::parse(launch_to_json(l));
  j["consoles"][0]["in"] = -3e9;
  EXPECT_NE(error_of(j).find("/consoles/0/in must be an integer"), std::string::npos) << error_of(j);
  j = nlohmann::json::parse(launch_to_json(l));
  j["relay"]["gate"] = 2.5;
  EXPECT_NE(error_of(j).find("/relay/gate must be an integer"), std::string::npos) << error_of(j);
  j = nlohmann::json::parse(launch_to_json(l));
  EXPECT_EQ(error_of(j), "");
}

TEST(VmmToolLaunch, AnFdThatIsNotOpenIsNamed) {
  Launch l;
  l.vm.kernel = "/k";
  l.vm.serial_out_fd = 1;  // open
  l.result_fd = 987;       // not open in this process
  try {
    launch_from_json(launch_to_json(l));
    FAIL() << "no error for a closed result fd";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "launch config: result_fd = fd 987 is not open");
  }
  l.result_fd = 1;
  l.jail = {true, 999, 995, 988};
  try {
    launch_from_json(launch_to_json(l));
    FAIL() << "no error for a closed monitor pidfd";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "launch config: jail.monitor_pidfd = fd 988 is not open");
  }
}

TEST(VmmToolLaunch, ResultCarriesReasonDetailBootTimeAndBrokenDevices) {
  hvrun::vmm::VmResult r;
  r.reason = hvrun::vmm::VmResult::Reason::Reset;
  r.detail = "i8042 reset";
  r.boot_ns = 1234;
  r.broken_devices = {"virtio slot 2: bad ring"};
  auto j = nlohmann::json::parse(result_to_json(r));
  EXPECT_EQ(j["reason"], int(hvrun::vmm::VmResult::Reason::Reset));
  EXPECT_EQ(j["detail"], "i8042 reset");
  EXPECT_EQ(j["boot_ns"], 1234);
  EXPECT_EQ(j["broken"][0], "virtio slot 2: bad ring");
}

namespace {

// Reads what arrives on fd within timeout_ms (until `want` is seen, if given).
std::string read_for(int fd, int timeout_ms, const std::string& want = "") {
  std::string s;
  char buf[4096];
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    struct pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10) > 0) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      s.append(buf, size_t(n));
      if (!want.empty() && s.find(want) != std::string::npos) break;
    }
  }
  return s;
}

struct SocketPair {
  UniqueFd a, b;
  SocketPair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

}  // namespace

TEST(VmmToolFileBinds, BindTheFileInAPrivateMountNamespaceReadOnlyIfAsked) {
  char tmpl[] = "/tmp/hvrun-binds-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  auto put = [](const std::string& path, const std::string& text) {
    UniqueFd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(f);
    ASSERT_EQ(::write(f.get(), text.data(), text.size()), ssize_t(text.size()));
  };
  put(dir + "/rw-src", "rw");
  put(dir + "/ro-src", "ro");
  put(dir + "/rw-dst", "");
  put(dir + "/ro-dst", "");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // exit codes: 10 binds failed, 11 wrong content, 12 rw not writable, 13 ro writable
    try {
      apply_file_binds({{dir + "/rw-src", dir + "/rw-dst", false}, {dir + "/ro-src", dir + "/ro-dst", true}});
    } catch (const Error&) {
      ::_exit(10);
    }
    char buf[8] = {};
    int fd = ::open((dir + "/ro-dst").c_str(), O_RDONLY);
    if (fd < 0 || ::read(fd, buf, sizeof buf) != 2 || std::string(buf) != "ro") ::_exit(11);
    fd = ::open((dir + "/rw-dst").c_str(), O_WRONLY | O_APPEND);
    if (fd < 0 || ::write(fd, "+x", 2) != 2) ::_exit(12);
    if (::open((dir + "/ro-dst").c_str(), O_WRONLY) >= 0 || errno != EROFS) ::_exit(13);
    ::_exit(0);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  // The write went to the source file; here, outside that namespace, the
  // placeholders are still the empty files (nothing mounted on the host).
  char buf[8] = {};
  UniqueFd src(::open((dir + "/rw-src").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(::read(src.get(), buf, sizeof buf), 4);
  EXPECT_EQ(std::string(buf), "rw+x");
  struct stat dst{};
  EXPECT_EQ(::stat((dir + "/rw-dst").c_str(), &dst), 0);
  EXPECT_EQ(dst.st_size, 0);
  EXPECT_EQ(std::system(("rm -rf " + dir).c_str()), 0);
}

TEST(VmmToolRelay, PassesControlLinesGatesInputUntilReadyAndEndsStdin) {
  ::signal(SIGPIPE, SIG_IGN);  // as hvrun-vmm does: the relay writes to peers that may be gone
  SocketPair monitor, hvc2, gate;
  hvrun::Pipe input = hvrun::Pipe::make(), signals = hvrun::Pipe::make();
  RelayFds f{signals.read.get(), monitor.a.get(), hvc2.a.get(), gate.a.get(), input.read.get(), false};
  std::thread relay(relay_loop, f);

  // Input typed before the guest is ready waits.
  ASSERT_EQ(::write(input.write.get(), "early\n", 6), 6);
  EXPECT_EQ(read_for(gate.b.get(), 200), "");
  // guest -> monitor, and "ready" opens the gate.
  const std::string ready = "{\"event\":\"ready\"}\n";
  ASSERT_EQ(::write(hvc2.b.get(), ready.data(), ready.size()), ssize_t(ready.size()));
  EXPECT_EQ(read_for(monitor.b.get(), 5000, ready), ready);
  EXPECT_EQ(read_for(gate.b.get(), 5000, "early\n"), "early\n");
  // monitor -> guest.
  const std::string winsize = "{\"winsize\":[24,80]}\n";
  ASSERT_EQ(::write(monitor.b.get(), winsize.data(), winsize.size()), ssize_t(winsize.size()));
  EXPECT_EQ(read_for(hvc2.b.get(), 5000, winsize), winsize);
  // A signal the VMM process got travels as a control line.
  unsigned char sig = 10;
  ASSERT_EQ(::write(signals.write.get(), &sig, 1), 1);
  EXPECT_EQ(read_for(hvc2.b.get(), 5000, "\n"), "{\"signal\":10}\n");
  // End of input (all of it taken from the gate): stdin_eof.
  input.write.reset();
  EXPECT_EQ(read_for(hvc2.b.get(), 5000, "\n"), "{\"stdin_eof\":true}\n");
  // The guest's console closing ends the relay.
  hvc2.b.reset();
  relay.join();
}

TEST(VmmToolRelay, WithoutInputSendsStdinEofOnceReady) {
  ::signal(SIGPIPE, SIG_IGN);  // as hvrun-vmm does: the relay writes to peers that may be gone
  SocketPair monitor, hvc2, gate;
  RelayFds f{-1, monitor.a.get(), hvc2.a.get(), gate.a.get(), -1, false};
  std::thread relay(relay_loop, f);
  EXPECT_EQ(read_for(hvc2.b.get(), 200), "");
  ASSERT_EQ(::write(hvc2.b.get(), "{\"event\":\"ready\"}\n", 18), 18);
  EXPECT_EQ(read_for(hvc2.b.get(), 5000, "\n"), "{\"stdin_eof\":true}\n");
  monitor.b.reset();  // the monitor going away ends it too
  relay.join();
}

namespace {

// Sets or unsets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  std::string old;
  bool had;
  ScopedEnv(const std::string& n, const char* value) : name(n) {
    const char* o = std::getenv(n.c_str());
    had = o != nullptr;
    if (had) old = o;
    if (value) ::setenv(n.c_str(), value, 1);
    else ::unsetenv(n.c_str());
  }
  ~ScopedEnv() {
    if (had) ::setenv(name.c_str(), old.c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

}  // namespace

TEST(EngineFindVmm, HvrunVmmEnvironmentVariableWins) {
  ScopedEnv e("HVRUN_VMM", "/bin/true");
  EXPECT_EQ(hvrun::engine::find_vmm(), "/bin/true");
  EXPECT_EQ(hvrun::engine::require_vmm(), "/bin/true");
}

TEST(EngineFindVmm, MissingHvrunVmmIsOneLineWithTheWayOut) {
  {
    ScopedEnv e("HVRUN_VMM", "/nonexistent/hvrun-vmm");
    try {
      hvrun::engine::require_vmm();
      FAIL() << "no error for a missing $HVRUN_VMM";
    } catch (const Error& ex) {
      std::string m = ex.what();
      EXPECT_NE(m.find("HVRUN_VMM=/nonexistent/hvrun-vmm is not an executable file"), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  }
  {
    ScopedEnv e("HVRUN_VMM", "/etc");  // exists, but a directory
    EXPECT_THROW(hvrun::engine::require_vmm(), Error);
  }
  // Without the variable: this test binary has no hvrun-vmm beside it
  // (tests/unit/../vmm/tool), so it is the installed copy or a clear error.
  ScopedEnv e("HVRUN_VMM", nullptr);
  if (::access("/usr/local/lib/hvrun/hvrun-vmm", X_OK) == 0) {
    EXPECT_EQ(hvrun::engine::require_vmm(), "/usr/local/lib/hvrun/hvrun-vmm");
  } else {
    EXPECT_EQ(hvrun::engine::find_vmm(), "");
    try {
      hvrun::engine::require_vmm();
      FAIL() << "no error without any hvrun-vmm";
    } catch (const Error& ex) {
      std::string m = ex.what();
      EXPECT_NE(m.find("hvrun-vmm not found"), std::string::npos) << m;
      EXPECT_NE(m.find("scripts/setup.sh"), std::string::npos) << m;
    }
  }
}
