// Boots the tiny freestanding guests of tests/guests on the local /dev/kvm
// through run_vm (raw_kernel mode) and checks what they did.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "tests/guests/test_guests.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/vm.hpp"

using namespace hvrun::vmm;

namespace {

std::string guest(const char* name) { return hvrun::test_guests::path(name); }

std::string drain(int fd) {
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

struct GuestRun {
  VmResult result;
  std::string serial;
};

GuestRun boot(const char* name, VmConfig cfg = {}) {
  auto out = hvrun::Pipe::make();
  cfg.kernel = guest(name);
  cfg.raw_kernel = true;
  cfg.mem_bytes = 64 << 20;
  cfg.serial_out_fd = out.write.get();
  GuestRun r;
  r.result = run_vm(cfg);
  out.write.reset();
  r.serial = drain(out.read.get());
  return r;
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/hvrun-vmm-guest-XXXXXX";
    int fd = ::mkstemp(tmpl);
    path = tmpl;
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
  }
  ~TempFile() { ::unlink(path.c_str()); }
  std::string read() const {
    int fd = ::open(path.c_str(), O_RDONLY);
    std::string s = drain(fd);
    ::close(fd);
    return s;
  }
};

}  // namespace

TEST(VmmGuest, HelloPrintsOnSerialAndI8042ResetEndsVm) {
  HVRUN_REQUIRE_KVM();
  GuestRun r = boot("hello");
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_EQ(r.result.detail, "i8042 reset");
  EXPECT_EQ(r.serial, "hello\n");
  EXPECT_GT(r.result.boot_ns, 0u) << "the boot-timer port write was not recorded";
}

TEST(VmmGuest, TripleFaultEndsVmAsResetWithDetail) {
  HVRUN_REQUIRE_KVM();
  VmConfig cfg;
  cfg.debug = true;
  GuestRun r = boot("triple", cfg);
  EXPECT_EQ(r.serial, "faulting\n");
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_NE(r.result.detail.find("triple fault"), std::string::npos) << r.result.detail;
  EXPECT_NE(r.result.detail.find("rip="), std::string::npos) << r.result.detail;
  EXPECT_EQ(r.result.boot_ns, 0u);
}

TEST(VmmGuest, ProbeSeesVirtioSlotsInDevicePlanOrder) {
  HVRUN_REQUIRE_KVM();
  TempFile disk(std::string(4096, '\0'));
  auto con = hvrun::Pipe::make();
  VmConfig cfg;
  cfg.disks.push_back({disk.path, true});
  cfg.consoles.push_back({-1, con.write.get()});
  GuestRun r = boot("probe", cfg);
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_EQ(r.serial,
            "slot 0 74726976 00000002 00000002\n"
            "slot 1 74726976 00000002 00000003\n"
            "slot 2 ffffffff ffffffff ffffffff\n");
}

TEST(VmmGuest, BlkGuestReadsSectorZeroAndWritesSectorOne) {
  HVRUN_REQUIRE_KVM();
  std::string content(8 * 512, 'z');
  content.replace(0, 16, "HVRUN-SECTOR-0!!");
  TempFile disk(content);
  VmConfig cfg;
  cfg.disks.push_back({disk.path, false});
  GuestRun r = boot("blk", cfg);
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_EQ(r.serial, "read: HVRUN-SECTOR-0!!\nstatus 00000000\nstatus 00000000\n");
  std::string after = disk.read();
  ASSERT_EQ(after.size(), content.size());
  std::string expect1 = "written by the guest" + std::string(512 - 20, 'W');
  EXPECT_EQ(after.substr(512, 512), expect1);
  EXPECT_EQ(after.substr(0, 512), content.substr(0, 512));
  EXPECT_EQ(after.substr(1024), content.substr(1024));
  EXPECT_TRUE(r.result.broken_devices.empty());
}

TEST(VmmGuest, BlkGuestOnReadOnlyDiskGetsIoErrOnWriteAndFileIsUnchanged) {
  HVRUN_REQUIRE_KVM();
  std::string content(8 * 512, 'z');
  content.replace(0, 16, "HVRUN-SECTOR-0!!");
  TempFile disk(content);
  VmConfig cfg;
  cfg.disks.push_back({disk.path, true});
  GuestRun r = boot("blk", cfg);
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_EQ(r.serial, "read: HVRUN-SECTOR-0!!\nstatus 00000000\nstatus 00000001\n");
  EXPECT_EQ(disk.read(), content);
}

TEST(VmmGuest, RequestStopEndsARunningVm) {
  HVRUN_REQUIRE_KVM();
  // The blk guest spins on the used ring forever when there is no disk.
  std::thread stopper([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    request_stop();
  });
  GuestRun r;
  try {
    r = boot("blk");
  } catch (...) {
    stopper.join();
    throw;
  }
  stopper.join();
  EXPECT_EQ(r.result.reason, VmResult::Reason::Shutdown) << r.result.detail;
}

TEST(VmmGuest, MissingKernelFailsWithClearError) {
  HVRUN_REQUIRE_KVM();
  VmConfig cfg;
  cfg.kernel = "/nonexistent/vmlinux";
  try {
    run_vm(cfg);
    FAIL() << "run_vm accepted a missing kernel";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vmlinux"), std::string::npos) << e.what();
  }
}

TEST(VmmGuest, SerialInputReachesGuestThroughIoLoop) {
  HVRUN_REQUIRE_KVM();
  auto in = hvrun::Pipe::make();
  ASSERT_EQ(::write(in.write.get(), "ping\n", 5), 5);
  VmConfig cfg;
  cfg.serial_in_fd = in.read.get();
  GuestRun r = boot("echo", cfg);
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_EQ(r.serial, "ping\n");
}

TEST(VmmGuest, SerialInputFromRegularFileIsRead) {
  HVRUN_REQUIRE_KVM();
  TempFile input("from a file\n");
  int fd = ::open(input.path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  VmConfig cfg;
  cfg.serial_in_fd = fd;
  GuestRun r = boot("echo", cfg);
  ::close(fd);
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_EQ(r.serial, "from a file\n");
}

TEST(VmmGuest, HostileRingAddressMarksDeviceNeedsResetNotVmmCrash) {
  HVRUN_REQUIRE_KVM();
  TempFile disk(std::string(4096, '\0'));
  VmConfig cfg;
  cfg.disks.push_back({disk.path, false});
  GuestRun r = boot("badring", cfg);
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  // ACKNOWLEDGE | DRIVER | FEATURES_OK | DEVICE_NEEDS_RESET; config-change interrupt
  EXPECT_EQ(r.serial, "status 0000004b 00000002\n");
  ASSERT_EQ(r.result.broken_devices.size(), 1u);
  EXPECT_NE(r.result.broken_devices[0].find("descriptor table"), std::string::npos) << r.result.broken_devices[0];
}

TEST(VmmGuest, ExtraVcpusWaitingForSipiDoNotKeepVmAlive) {
  HVRUN_REQUIRE_KVM();
  VmConfig cfg;
  cfg.vcpus = 4;
  auto t0 = std::chrono::steady_clock::now();
  GuestRun r = boot("hello", cfg);
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_EQ(r.serial, "hello\n");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(VmmGuest, ConsoleGuestTransmitsToOutFdAndReceivesFromInFd) {
  HVRUN_REQUIRE_KVM();
  auto in = hvrun::Pipe::make();
  auto out = hvrun::Pipe::make();
  ASSERT_EQ(::write(in.write.get(), "abc", 3), 3);
  VmConfig cfg;
  cfg.consoles.push_back({in.read.get(), out.write.get()});
  GuestRun r = boot("console", cfg);
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_EQ(r.serial, "rx: abc\n");
  out.write.reset();
  EXPECT_EQ(drain(out.read.get()), "console out\n");
  EXPECT_TRUE(r.result.broken_devices.empty());
}

TEST(VmmGuest, ConsoleInputArrivingLaterWakesTheIoLoop) {
  HVRUN_REQUIRE_KVM();
  auto in = hvrun::Pipe::make();
  auto out = hvrun::Pipe::make();
  VmConfig cfg;
  cfg.consoles.push_back({in.read.get(), out.write.get()});
  std::thread writer([fd = in.write.get()] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(::write(fd, "late", 4), 4);
  });
  GuestRun r;
  try {
    r = boot("console", cfg);
  } catch (...) {
    writer.join();
    throw;
  }
  writer.join();
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_EQ(r.serial, "rx: late\n");
}

TEST(VmmGuest, CmosRtcGivesTheHostUtcDate) {
  HVRUN_REQUIRE_KVM();
  auto date_line = [] {
    time_t now = ::time(nullptr);
    tm t{};
    ::gmtime_r(&now, &t);
    char s[96];
    std::snprintf(s, sizeof s, "rtc %08x %08x %08x %08x \n", 19 + t.tm_year / 100, t.tm_year % 100, t.tm_mon + 1, t.tm_mday);
    return std::string(s);
  };
  const std::string before = date_line();
  GuestRun r = boot("rtc");
  const std::string after = date_line();  // the date may roll over at midnight UTC
  EXPECT_EQ(r.result.reason, VmResult::Reason::Reset) << r.result.detail;
  EXPECT_TRUE(r.serial == before || r.serial == after) << r.serial << " vs " << before;
}
