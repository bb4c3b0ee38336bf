// guest-init end to end: the project's guest kernel boots under QEMU
// (-M microvm, TCG: no KVM needed) with an initramfs of guest-init +
// /spec.json, an ext4 image disk (vda), a writable ext4 disk (vdb) and three
// virtio consoles (hvc0 stdio, hvc1 stderr, hvc2 control), the device plan of
// contract/plan.hpp. Proves the container stack runs inside the guest and the
// exit status comes back on the control console.
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "harness.hpp"

namespace hvrun::test {
namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The control channel's last line: the exit event (a "ready" event comes first).
nlohmann::json last_event(const std::string& hvc2) {
  std::string t = hvc2;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  auto nl = t.rfind('\n');
  return nlohmann::json::parse(nl == std::string::npos ? t : t.substr(nl + 1));
}

std::string guest_init_path() {
  if (const char* p = std::getenv("HVRUN_GUEST_INIT"); p && *p) return p;
  std::string bin = hvrun_bin();
  return bin.substr(0, bin.rfind('/')) + "/../guest-init/hvrun-guest-init";
}

class GuestInitE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    if (run({"sh", "-c", "command -v qemu-system-x86_64 && command -v mkfs.ext4 && command -v cpio"}).code != 0)
      GTEST_SKIP() << "qemu-system-x86_64, mkfs.ext4 or cpio is not installed";
    auto k = run({source_dir() + "/scripts/build-kernel.sh", "--print-path", "guest"});
    ASSERT_EQ(k.code, 0) << "guest kernel not built (scripts/build-kernel.sh guest): " << k.err;
    kernel_ = trim(k.out) + "/vmlinux";
    ASSERT_EQ(::access(guest_init_path().c_str(), X_OK), 0) << "guest-init not built at " << guest_init_path();
    dir_ = std::make_unique<TempDir>();
    auto r = run({"sh", "-c",
                  "set -e; cd '" + d() + "'; truncate -s 64M image.ext4; mkfs.ext4 -q -F -d '" + busybox_rootfs() +
                      "' image.ext4; truncate -s 64M rw.ext4; mkfs.ext4 -q -F rw.ext4"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  std::string d() const { return dir_->path(); }

  // Boots the guest with this workload (a RunSpec, the GuestSpec's
  // workload: contract/guest_spec.hpp); returns QEMU's result. With
  // `control` set, hvc2 is a FIFO pair: once hvc0 shows `wait_for`, the
  // control lines are sent to the guest.
  // With `input`, hvc0 is a FIFO pair too and `input` is sent at boot.
  Result boot(const nlohmann::json& workload, const std::string& wait_for = "", const std::string& control = "",
              const std::string& input = "") {
    std::ofstream(d() + "/spec.json") << nlohmann::json{{"workload", workload}}.dump();
    auto r = run({source_dir() + "/scripts/make-initramfs.sh", d() + "/initrd.cpio", guest_init_path(),
                  d() + "/spec.json"});
    EXPECT_EQ(r.code, 0) << r.err;
    std::ofstream(d() + "/control") << control;
    std::ofstream(d() + "/input") << input;
    std::string script = R"(set -u
c=$1 kernel=$2 wait_for=$3
ctl="file,id=c2,path=$c/hvc2"
con="file,id=c0,path=$c/hvc0"
if [ -s "$c/input" ]; then
  mkfifo "$c/con.in" "$c/con.out"
  con="pipe,id=c0,path=$c/con"
  cat "$c/con.out" > "$c/hvc0" &
  ( until grep -q '"event":"ready"' "$c/hvc2" 2>/dev/null; do sleep 0.05; done; cat "$c/input" > "$c/con.in" ) &
fi
if [ -s "$c/control" ]; then
  mkfifo "$c/ctl.in" "$c/ctl.out"
  ctl="pipe,id=c2,path=$c/ctl"
  cat "$c/ctl.out" > "$c/hvc2" &
  ( until grep -q "$wait_for" "$c/hvc0" 2>/dev/null; do sleep 0.05; done; cat "$c/control" > "$c/ctl.in" ) &
fi
qemu-system-x86_64 -M microvm,acpi=off -accel tcg -cpu max -m 256 -nodefaults -no-user-config -nographic \
  -no-reboot -chardev "file,id=ser,path=$c/serial" -serial chardev:ser \
  -drive "id=vda,file=$c/image.ext4,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=vda \
  -drive "id=vdb,file=$c/rw.ext4,format=raw,if=none" -device virtio-blk-device,drive=vdb \
  -chardev "$con" -device virtio-serial-device -device virtconsole,chardev=c0 \
  -chardev "file,id=c1,path=$c/hvc1" -device virtio-serial-device -device virtconsole,chardev=c1 \
  -chardev "$ctl" -device virtio-serial-device -device virtconsole,chardev=c2 \
  -kernel "$kernel" -initrd "$c/initrd.cpio" -append "console=ttyS0 reboot=t panic=-1 quiet" </dev/null
rc=$?
sleep 0.2; kill $(jobs -p) 2>/dev/null; wait
exit $rc
)";
    return run({"sh", "-c", script, "boot", d(), kernel_, wait_for}, "", 90);
  }
  std::string kernel_;
  std::unique_ptr<TempDir> dir_;
};

TEST_F(GuestInitE2E, RunsTheSpecInAContainerInsideTheGuestAndReportsItsExit) {
  nlohmann::json spec = {
      {"id", std::string(64, 'a')},
      {"hostname", "guestbox"},
      {"args",
       {"sh", "-c", "echo out-$$-$(hostname); echo err-line >&2; echo kept > /written; exit 42"}},
      {"env", {"PATH=/bin:/sbin"}}};
  auto r = boot(spec);
  ASSERT_EQ(r.code, 0) << r.err << slurp(d() + "/serial");
  // PID 1 of its own pid namespace, the RunSpec's hostname (uts namespace).
  EXPECT_EQ(slurp(d() + "/hvc0"), "out-1-guestbox\n") << slurp(d() + "/serial");
  EXPECT_EQ(slurp(d() + "/hvc1"), "err-line\n");
  auto ctl = slurp(d() + "/hvc2");
  EXPECT_EQ(ctl.rfind("{\"event\":\"ready\"}\n", 0), 0u) << ctl;
  auto ev = last_event(ctl);
  EXPECT_EQ(ev["event"], "exit");
  EXPECT_EQ(ev["code"], 42);
  EXPECT_EQ(ev["signal"], 0);
  // The write landed in the overlay upper dir on the writable disk (vdb).
  auto dbg = run({"debugfs", "-R", "cat /upper/written", d() + "/rw.ext4"});
  EXPECT_EQ(dbg.out, "kept\n") << dbg.err;
}

TEST_F(GuestInitE2E, AFatalSetupErrorIsReportedAsExit125WithTheReason) {
  nlohmann::json spec = {{"id", std::string(64, 'b')},
                         {"args", {"true"}},
                         {"mounts", {{{"source", "/host/only"}, {"target", "/x"}}}}};
  auto r = boot(spec);
  ASSERT_EQ(r.code, 0) << r.err;
  auto ev = last_event(slurp(d() + "/hvc2"));
  EXPECT_EQ(ev["code"], 125);
  EXPECT_NE(ev["error"].get<std::string>().find("/host/only"), std::string::npos) << ev.dump();
  EXPECT_NE(slurp(d() + "/hvc1").find("hvrun-guest-init: "), std::string::npos);
}

TEST_F(GuestInitE2E, StdinFromHvc0ReachesTheWorkloadAndStdinEofEndsIt) {
  nlohmann::json spec = {{"id", std::string(64, 'd')}, {"args", {"sh", "-c", "cat; echo cat-done"}},
                         {"env", {"PATH=/bin:/sbin"}}};
  auto r = boot(spec, "line-two", "{\"stdin_eof\":true}\n", "line-one\nline-two\n");
  ASSERT_EQ(r.code, 0) << r.err << slurp(d() + "/serial");
  EXPECT_EQ(slurp(d() + "/hvc0"), "line-one\nline-two\ncat-done\n");
  auto ev = last_event(slurp(d() + "/hvc2"));
  EXPECT_EQ(ev["code"], 0) << ev.dump();
}

TEST_F(GuestInitE2E, TtySpecGetsAPtyAndControlSignalsReachTheWorkload) {
  nlohmann::json spec = {
      {"id", std::string(64, 'c')},
      {"tty", true},
      {"args", {"sh", "-c", "trap 'stty size; echo got-term; exit 3' TERM; [ -t 0 ] && tty; echo ready; while :; do sleep 0.1; done"}},
      {"env", {"PATH=/bin:/sbin"}}};
  auto r = boot(spec, "ready", "not json\n{\"winsize\":[33,77]}\n{\"signal\":15}\n");
  ASSERT_EQ(r.code, 0) << r.err << slurp(d() + "/serial");
  auto out = slurp(d() + "/hvc0");
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
  EXPECT_NE(out.find("got-term"), std::string::npos) << out;
  EXPECT_NE(out.find("33 77"), std::string::npos) << "winsize from the control channel: " << out;
  EXPECT_NE(slurp(d() + "/hvc1").find("ignored control message"), std::string::npos);
  auto ev = last_event(slurp(d() + "/hvc2"));
  EXPECT_EQ(ev["code"], 3) << ev.dump();
}

}  // namespace
}  // namespace hvrun::test
