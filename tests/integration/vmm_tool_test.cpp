// hvrun-vmm, the VMM executable: `hvrun vmm` execs it in place and it parses
// the words itself; the engine's way in (--launch-fd, vmm/tool/launch.hpp)
// runs a guest, relays control lines and signals and reports the result.
// Guests: the tiny freestanding ones of tests/guests on the local /dev/kvm.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/guests/test_guests.hpp"
#include "tests/integration/harness.hpp"
#include "util/fd.hpp"
#include "vmm/tool/launch.hpp"

namespace hvrun::test {
namespace {

std::string guest(const char* name) { return hvrun::test_guests::path(name); }

size_t count_lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

TEST(VmmCli, BadFlagFailsWithOneLineErrorFromHvrunVmm) {
  auto r = run({hvrun_bin(), "vmm", "--kernel", "/k", "--bogus"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "hvrun: vmm: unknown option '--bogus' (see 'hvrun vmm --help')\n");
  // hvrun itself parsed none of it: hvrun-vmm given the same words says the same.
  auto direct = run({HVRUN_VMM_BIN, "--kernel", "/k", "--bogus"});
  EXPECT_EQ(direct.code, 125);
  EXPECT_EQ(direct.err, r.err);
  // And with no hvrun-vmm to run, hvrun says that, in one line.
  auto missing = run({hvrun_bin(), "vmm", "--bogus"}, "", 60, {{"HVRUN_VMM", "/nonexistent/hvrun-vmm"}});
  EXPECT_EQ(missing.code, 125);
  EXPECT_EQ(count_lines(missing.err), 1u) << missing.err;
  EXPECT_NE(missing.err.find("HVRUN_VMM=/nonexistent/hvrun-vmm is not an executable file"), std::string::npos)
      << missing.err;
}

TEST(VmmCli, MissingKernelOptionIsOneLine) {
  auto r = run({hvrun_bin(), "vmm", "--mem", "64M"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(r.err, "hvrun: vmm: --kernel is required (see 'hvrun vmm --help')\n");
}

TEST(VmmCli, ExecsHvrunVmmInPlaceWithTheWordsAfterVmm) {
  TempDir d;
  std::string fake = d.path() + "/hvrun-vmm";
  {
    std::ofstream f(fake);
    f << "#!/bin/sh\necho \"inner=$$ comm=$(cat /proc/$$/comm) args=$*\"\n";
  }
  ASSERT_EQ(::chmod(fake.c_str(), 0755), 0);
  auto r = run({"sh", "-c", "echo outer=$$; exec \"$0\" --debug vmm --kernel /k --mem=1G", hvrun_bin()}, "", 60,
               {{"HVRUN_VMM", fake}});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream in(r.out);
  std::string outer, inner;
  std::getline(in, outer);
  std::getline(in, inner);
  ASSERT_EQ(outer.rfind("outer=", 0), 0u) << r.out;
  // Same PID (exec in place, so bench-vm.sh and `pgrep -x hvrun-vmm` see the VMM), the global --debug passed on.
  EXPECT_EQ(inner, "inner=" + outer.substr(6) + " comm=hvrun-vmm args=--debug --kernel /k --mem=1G") << r.out;
}

TEST(VmmCli, HelpComesFromHvrunVmmAndHvrunHelpStillListsVmm) {
  auto r = run({hvrun_bin(), "vmm", "--help"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("--kernel PATH"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--net-tap NAME[,mac=MAC][,bridge=BR]"), std::string::npos) << r.out;
  auto h = run({hvrun_bin(), "--help"});
  EXPECT_NE(h.out.find("vmm"), std::string::npos) << h.out;
}

TEST(VmmCli, BootsARawGuestWithSerialOnStdoutAndDebugLines) {
  HVRUN_REQUIRE_KVM();
  auto r = run({hvrun_bin(), "--debug", "vmm", "--raw", "--kernel", guest("hello"), "--mem", "64M"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_NE(r.err.find("hvrun: vm ended: reset: i8042 reset"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hvrun: boot timer: guest init reached after"), std::string::npos) << r.err;
}

TEST(VmmCli, UnreadableKernelIsOneLineAndStatus125) {
  auto r = run({hvrun_bin(), "vmm", "--raw", "--kernel", "/nonexistent/kernel", "--mem", "64M"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/kernel"), std::string::npos) << r.err;
}

TEST(VmmCli, TheRunningVmmIsProcessHvrunVmmWithHvrunsPid) {
  HVRUN_REQUIRE_KVM();
  // echo.bin echoes serial input until a newline, then resets.
  auto r = run({"bash", "-c", R"SH(
set -u
d=$(mktemp -d); mkfifo "$d/in"
"$0" vmm --raw --kernel "$1" --mem 64M < "$d/in" > "$d/out" & p=$!
exec 3> "$d/in"
for i in $(seq 200); do [ "$(cat /proc/$p/comm 2>/dev/null)" = hvrun-vmm ] && break; sleep 0.05; done
echo "comm=$(cat /proc/$p/comm)"
echo hi >&3; exec 3>&-
wait $p; echo "rc=$?"; echo "out=$(cat "$d/out")"; rm -rf "$d")SH",
                hvrun_bin(), guest("echo")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "comm=hvrun-vmm\nrc=0\nout=hi\n") << r.err;
}

// --- the engine's way in: hvrun-vmm --launch-fd N ---------------------------

std::string read_until(int fd, const std::string& want, int timeout_ms = 10000) {
  std::string s;
  char buf[4096];
  for (int waited = 0; waited < timeout_ms && s.find(want) == std::string::npos; waited += 20) {
    struct pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    s.append(buf, size_t(n));
  }
  return s;
}

// Forks and execs hvrun-vmm --launch-fd as the engine does: the listed fds
// inherited, the forwarded signals blocked across exec.
pid_t launch_vmm(const vmm::tool::Launch& l, const std::vector<int>& fds) {
  UniqueFd config(::memfd_create("launch", 0));
  std::string text = vmm::tool::launch_to_json(l);
  EXPECT_EQ(::write(config.get(), text.data(), text.size()), ssize_t(text.size()));
  std::string fd = std::to_string(config.get());
  pid_t pid = ::fork();
  if (pid == 0) {
    for (int f : fds) ::fcntl(f, F_SETFD, 0);
    sigset_t s;
    sigemptyset(&s);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT}) sigaddset(&s, sig);
    ::sigprocmask(SIG_SETMASK, &s, nullptr);
    ::execl(HVRUN_VMM_BIN, HVRUN_VMM_BIN, "--launch-fd", fd.c_str(), nullptr);
    ::_exit(127);
  }
  return pid;
}

TEST(VmmLaunched, RunsTheGuestRelaysControlAndSignalsAndReportsTheResult) {
  HVRUN_REQUIRE_KVM();
  Pipe serial = Pipe::make(), con_in = Pipe::make(), con_out = Pipe::make(), result = Pipe::make();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd monitor(sv[0]), monitor_vmm(sv[1]);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  // The relay's end, and the device end: this test plays the guest on the latter.
  UniqueFd hvc2_relay(sv[0]), hvc2_guest(sv[1]);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd gate(sv[0]), gate_peer(sv[1]);

  vmm::tool::Launch l;
  l.vm.kernel = guest("console");  // hvc0: sends "console out\n", waits for bytes, prints "rx: ..." on ttyS0
  l.vm.raw_kernel = true;
  l.vm.mem_bytes = 64 << 20;
  l.vm.consoles = {{con_in.read.get(), con_out.write.get()}};
  l.vm.serial_out_fd = serial.write.get();
  l.relay = {monitor_vmm.get(), hvc2_relay.get(), hvc2_guest.get(), gate.get(), -1, false};
  l.result_fd = result.write.get();
  pid_t pid = launch_vmm(l, {con_in.read.get(), con_out.write.get(), serial.write.get(), monitor_vmm.get(),
                             hvc2_relay.get(), hvc2_guest.get(), gate.get(), result.write.get()});
  ASSERT_GT(pid, 0);
  con_out.write.reset();
  serial.write.reset();
  result.write.reset();
  monitor_vmm.reset();
  hvc2_relay.reset();

  EXPECT_NE(read_until(con_out.read.get(), "console out\n").find("console out\n"), std::string::npos);
  // guest -> monitor; "ready" with no input means stdin_eof goes to the guest.
  ASSERT_EQ(::write(hvc2_guest.get(), "{\"event\":\"ready\"}\n", 18), 18);
  EXPECT_NE(read_until(monitor.get(), "ready").find("{\"event\":\"ready\"}"), std::string::npos);
  // A SIGTERM to the VMM process is for the workload: it arrives as a control line.
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  std::string to_guest = read_until(hvc2_guest.get(), "{\"signal\":15}");
  EXPECT_NE(to_guest.find("{\"signal\":15}\n"), std::string::npos) << to_guest;
  // monitor -> guest
  ASSERT_EQ(::write(monitor.get(), "{\"signal\":2}\n", 13), 13);
  to_guest += read_until(hvc2_guest.get(), "{\"signal\":2}");
  EXPECT_NE(to_guest.find("{\"signal\":2}\n"), std::string::npos) << to_guest;
  EXPECT_NE(to_guest.find("{\"stdin_eof\":true}\n"), std::string::npos) << to_guest;

  ASSERT_EQ(::write(con_in.write.get(), "ping", 4), 4);
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st)) << st;
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_NE(read_until(serial.read.get(), "rx: ping").find("rx: ping"), std::string::npos);
  auto j = nlohmann::json::parse(read_until(result.read.get(), "}"), nullptr, false);
  ASSERT_TRUE(j.is_object()) << j.dump();
  EXPECT_EQ(j["reason"], int(vmm::VmResult::Reason::Reset));
  EXPECT_EQ(j["detail"], "i8042 reset");
  EXPECT_TRUE(j["broken"].empty());
  // The relay ended when the VMM shut its end of hvc2: the monitor sees EOF.
  EXPECT_EQ(read_until(monitor.get(), "never", 2000), "");
}

TEST(VmmLaunched, AVmErrorIsReportedOnTheResultFdWithStatus125) {
  Pipe result = Pipe::make();
  vmm::tool::Launch l;
  l.vm.kernel = "/nonexistent/kernel";
  l.vm.raw_kernel = true;
  l.vm.mem_bytes = 64 << 20;
  l.result_fd = result.write.get();
  pid_t pid = launch_vmm(l, {result.write.get()});
  result.write.reset();
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 125);
  auto j = nlohmann::json::parse(read_until(result.read.get(), "}"), nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["reason"], int(vmm::VmResult::Reason::Error));
  EXPECT_NE(j["detail"].get<std::string>().find("/nonexistent/kernel"), std::string::npos) << j.dump();
}

TEST(VmmLaunched, ABadLaunchConfigIsOneLineAndStatus125) {
  TempDir d;
  std::string cfg = d.path() + "/launch.json";
  std::ofstream(cfg) << "{\"kernel\":1}";
  auto r = run({"bash", "-c", "exec \"$0\" --launch-fd 7 7<\"$1\"", HVRUN_VMM_BIN, cfg});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("hvrun: launch config: "), std::string::npos) << r.err;
}

TEST(VmmTool, CheckReportsTheHvrunVmmThisHvrunRuns) {
  auto r = run({hvrun_bin(), "check", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j["vmm"]["present"].get<bool>()) << j["vmm"].dump();
  char a[PATH_MAX], b[PATH_MAX];
  ASSERT_NE(::realpath(j["vmm"]["path"].get<std::string>().c_str(), a), nullptr);
  ASSERT_NE(::realpath(HVRUN_VMM_BIN, b), nullptr);
  if (std::string(hvrun_bin()).rfind("/usr/local/", 0) != 0) {
    EXPECT_STREQ(a, b);  // the build tree's, beside its hvrun
  }
  auto m = run({hvrun_bin(), "check", "--json"}, "", 60, {{"HVRUN_VMM", "/nonexistent/hvrun-vmm"}});
  auto k = nlohmann::json::parse(m.out);
  EXPECT_FALSE(k["vmm"]["present"].get<bool>());
  EXPECT_FALSE(k["vm_mode_ready"].get<bool>());
  EXPECT_NE(k["vmm"]["error"].get<std::string>().find("HVRUN_VMM"), std::string::npos);
}


// --- the engine's side: `hvrun --vm` forks and execs hvrun-vmm ---------------
// On this machine no Linux guest boots (PVM), so a stand-in hvrun-vmm
// ($HVRUN_VMM, a Python script) reports what it was given and answers as the
// relay would: output on hvc0, the guest's exit event to the monitor.

const char* kFakeVmm = R"PY(#!/usr/bin/python3
import json, os, sys
fd = int(sys.argv[2])
cfg = json.loads(os.pread(fd, 1 << 20, 0))
r = cfg["relay"]
named = {c[k] for c in cfg["consoles"] for k in ("in", "out")} | {cfg["serial_out_fd"], cfg["result_fd"]} | \
        {r[k] for k in ("monitor", "hvc2", "hvc2_vmm", "gate", "input")} | {n["tap_fd"] for n in cfg["nics"]} | \
        {cfg.get("jail", {}).get("monitor_pidfd", -1), cfg.get("snapshot_fd", -1), cfg.get("snapshot_done_fd", -1)}
named.discard(-1)
def is_open(f):
    try: os.fstat(f); return True
    except OSError: return False
others = []
for f in os.listdir("/proc/self/fd"):
    f = int(f)
    try: target = os.readlink(f"/proc/self/fd/{f}")
    except OSError: continue  # the listing's own fd, closed by now
    if f not in named and f not in (0, 1, 2, fd): others.append(target)
report = {"argv": sys.argv[1:], "comm": open("/proc/self/comm").read().strip(), "cfg": cfg,
          "closed": sorted(f for f in named if not is_open(f)), "others": others}
with open(os.environ["FAKE_VMM_REPORT"], "w") as f: json.dump(report, f)
os.write(cfg["consoles"][0]["out"], b"hello from the stand-in VMM\n")
os.write(r["monitor"], b'{"event":"exit","code":7,"signal":0,"oom":false}\n')
os.write(cfg["result_fd"], json.dumps({"reason": 0, "detail": "stand-in", "boot_ns": 1, "broken": []}).encode())
)PY";

class VmmFromEngine : public StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3 for the stand-in VMM";
    auto c = run({hvrun_bin(), "check", "--json"});
    auto j = nlohmann::json::parse(c.out, nullptr, false);
    if (!j.is_object() || !j["guest_kernel"]["built"].get<bool>() || !j["guest_init"]["present"].get<bool>())
      GTEST_SKIP() << "no guest kernel or guest-init to hand the VMM (scripts/setup.sh)";
  }
  Result vm_run(const std::string& vmm, const std::string& report) {
    return run({hvrun_bin(), "--root", root(), "--vm", "--rm", "busybox", "true"}, "", 120,
               {{"HVRUN_FORCE_VM", "1"}, {"HVRUN_VMM", vmm}, {"FAKE_VMM_REPORT", report},
                {"HVRUN_VM_TEMPLATE", "off"}});  // a cold boot: the stand-in cannot make a template
  }
};

TEST_F(VmmFromEngine, MonitorExecsHvrunVmmWithTheVmConfigAndOnlyItsFdsOpen) {
  HVRUN_REQUIRE_ROOT();
  TempDir d;
  std::string fake = d.path() + "/hvrun-vmm", report = d.path() + "/report.json";
  std::ofstream(fake) << kFakeVmm;
  ASSERT_EQ(::chmod(fake.c_str(), 0755), 0);
  Result r = vm_run(fake, report);
  // The stand-in's exit event and output came back through the monitor.
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_EQ(r.out, "hello from the stand-in VMM\n") << r.err;
  std::ifstream in(report);
  auto j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(j.is_object()) << "the stand-in wrote no report; stderr: " << r.err;
  EXPECT_EQ(j["argv"].size(), 2u);
  EXPECT_EQ(j["argv"][0], "--launch-fd");
  EXPECT_EQ(j["comm"], "hvrun-vmm");
  EXPECT_TRUE(j["closed"].empty()) << j["closed"].dump();
  EXPECT_TRUE(j["others"].empty()) << "fds the VMM should not hold: " << j["others"].dump();
  const auto& cfg = j["cfg"];
  EXPECT_NE(cfg["kernel"].get<std::string>().find("vmlinux"), std::string::npos) << cfg.dump();
  EXPECT_NE(cfg["initrd"].get<std::string>().find("initramfs.cpio"), std::string::npos);
  EXPECT_NE(cfg["cmdline"].get<std::string>().find("reboot=k"), std::string::npos);
  EXPECT_EQ(cfg["mem_bytes"], 256ull << 20);
  EXPECT_EQ(cfg["vcpus"], 1);
  // As root the VMM is jailed, in a PID namespace of its own, and holds a
  // pidfd of its monitor (vmm/jail.hpp) among its named fds.
  ASSERT_TRUE(cfg.contains("jail")) << cfg.dump();
  EXPECT_GE(cfg["jail"].value("monitor_pidfd", -1), 3) << cfg.dump();
  ASSERT_EQ(cfg["disks"].size(), 2u);
  EXPECT_TRUE(cfg["disks"][0]["readonly"].get<bool>());
  EXPECT_NE(cfg["disks"][1]["path"].get<std::string>().find("vm-rw.ext4"), std::string::npos);
  EXPECT_FALSE(cfg["disks"][1]["readonly"].get<bool>());
  EXPECT_EQ(cfg["consoles"].size(), 3u);  // hvc0 stdio, hvc1 stderr, hvc2 control
  EXPECT_GE(cfg["relay"]["monitor"].get<int>(), 0);
  EXPECT_FALSE(cfg["relay"]["tty"].get<bool>());
  EXPECT_FALSE(cfg["raw_kernel"].get<bool>());
}

TEST_F(VmmFromEngine, AnHvrunVmmThatCannotBeExecutedIsReportedInOneLine) {
  HVRUN_REQUIRE_ROOT();
  TempDir d;
  std::string bad = d.path() + "/hvrun-vmm";
  std::ofstream(bad) << "not a program\n";  // executable bit, no #! and no ELF header: ENOEXEC
  ASSERT_EQ(::chmod(bad.c_str(), 0755), 0);
  Result r = vm_run(bad, d.path() + "/unused");
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("exec " + bad + " failed: errno " + std::to_string(ENOEXEC)), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
}

TEST_F(VmmFromEngine, AMissingHvrunVmmIsRefusedBeforeAnythingIsCreated) {
  HVRUN_REQUIRE_ROOT();
  Result r = vm_run("/nonexistent/hvrun-vmm", "/dev/null");
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("HVRUN_VMM=/nonexistent/hvrun-vmm is not an executable file"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_EQ(trim(hv({"ps", "-aq"}).out), "");
}

}  // namespace
}  // namespace hvrun::test
