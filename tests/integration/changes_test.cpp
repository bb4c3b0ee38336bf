// hvrun diff / commit / history / export, container mode, through the real
// binary: a container adds, changes and deletes files (a lower directory
// removed and made again is opaque), and the new image has exactly that.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/integration/harness.hpp"

using namespace hvrun::test;
namespace fs = std::filesystem;

namespace {

// What the workload of the first test does to the base image.
const char* kChanges =
    "echo new > /added.txt; mkdir /newdir; echo n > /newdir/f; echo more >> /etc/keep; rm /etc/gone; "
    "rm -rf /data; mkdir /data; echo fresh > /data/fresh";
const char* kDiff =
    "A /added.txt\n"
    "D /data\n"
    "A /data/fresh\n"
    "C /etc\n"
    "D /etc/gone\n"
    "C /etc/keep\n"
    "A /newdir\n"
    "A /newdir/f\n";

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class Changes : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
    // base: busybox plus files for the container to change and delete.
    TempDir d;
    rootfs_ = d.path() + "/rootfs";
    ASSERT_EQ(run({"cp", "-a", busybox_rootfs(), rootfs_}).code, 0);
    ASSERT_EQ(run({"sh", "-c",
                   "cd '" + rootfs_ + "' && mkdir -p data && echo a > data/a && echo b > data/b && "
                   "echo keep > etc/keep && echo gone > etc/gone"})
                  .code,
              0);
    Result r = hv({"image", "import", rootfs_, "--name", "base"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  // Images and layers, to show that a refused command changed nothing.
  std::string store_listing() {
    return run({"sh", "-c", "cd '" + root() + "' && ls images layers && cat repositories.json"}).out;
  }
  std::string rootfs_;
};

TEST_F(Changes, DiffListsExactlyWhatTheContainerAddedChangedAndDeleted) {
  HVRUN_REQUIRE_ROOT();
  ASSERT_EQ(hv({"run", "--name", "c1", "base", "sh", "-c", kChanges}).code, 0);
  Result d = hv({"diff", "c1"});
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(d.out, kDiff);
  // A container that changed nothing has no changes.
  ASSERT_EQ(hv({"run", "--name", "idle", "base", "true"}).code, 0);
  Result e = hv({"diff", "idle"});
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.out, "");
}

TEST_F(Changes, CommitMakesAnImageThatRunsWithTheChangesAndTheNewConfig) {
  HVRUN_REQUIRE_ROOT();
  ASSERT_EQ(hv({"run", "--name", "c1", "base", "sh", "-c", kChanges}).code, 0);
  Result c = hv({"commit", "-m", "add things", "--author", "Jane <jane@example.com>", "-c", "CMD [\"cat\", \"/added.txt\"]",
                 "-c", "ENV K=v1", "-c", "WORKDIR /data", "c1", "test/app:v1"});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_TRUE(std::regex_match(c.out, std::regex("sha256:[0-9a-f]{64}\n"))) << c.out;
  Result cmd = hv({"run", "--rm", "test/app:v1"});  // the -c CMD
  EXPECT_EQ(cmd.code, 0) << cmd.err;
  EXPECT_EQ(cmd.out, "new\n");
  Result look = hv({"run", "--rm", "test/app:v1", "sh", "-c",
                    "pwd; echo $K; ls /data; cat /etc/keep; test -e /etc/gone || echo gone-absent; cat /newdir/f"});
  EXPECT_EQ(look.code, 0) << look.err;
  EXPECT_EQ(look.out, "/data\nv1\nfresh\nkeep\nmore\ngone-absent\nn\n");
  // The image id printed is the one the tag names.
  Result q = hv({"image", "inspect", "--format", "{{.Id}}", "test/app:v1"});
  EXPECT_EQ(q.code, 0) << q.err;
  EXPECT_EQ(c.out, q.out);
  // A container of the new image changed nothing yet.
  ASSERT_EQ(hv({"run", "--name", "c2", "test/app:v1", "true"}).code, 0);
  EXPECT_EQ(hv({"diff", "c2"}).out, "");
}

TEST_F(Changes, HistoryShowsTheCommitsMessageAuthorAndLayersAndTheGraphTheDescent) {
  HVRUN_REQUIRE_ROOT();
  ASSERT_EQ(hv({"run", "--name", "c1", "base", "sh", "-c", "echo 1 > /one"}).code, 0);
  Result c1 = hv({"commit", "-m", "first step", "--author", "Jane", "c1", "app:v1"});
  ASSERT_EQ(c1.code, 0) << c1.err;
  ASSERT_EQ(hv({"run", "--name", "c2", "app:v1", "sh", "-c", "echo 2 > /two"}).code, 0);
  Result c2 = hv({"commit", "-m", "second step", "c2", "app:v2"});
  ASSERT_EQ(c2.code, 0) << c2.err;
  ASSERT_EQ(hv({"run", "--name", "c3", "app:v1", "sh", "-c", "echo 3 > /three"}).code, 0);
  ASSERT_EQ(hv({"commit", "-m", "a branch", "c3", "app:branch"}).code, 0);

  Result h = hv({"history", "app:v2"});
  ASSERT_EQ(h.code, 0) << h.err;
  EXPECT_EQ(h.out.substr(0, h.out.find('\n')).find("IMAGE"), 0u) << h.out;
  EXPECT_NE(h.out.find("second step"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("first step"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("sh -c echo 2 > /two"), std::string::npos) << h.out;
  // Newest first; each row is one of the image's steps, the rows of app:v1
  // show its id.
  Result ids = hv({"history", "-q", "--no-trunc", "app:v2"});
  ASSERT_EQ(ids.code, 0);
  EXPECT_EQ(ids.out, c2.out + c1.out + hv({"image", "inspect", "--format", "{{.Id}}", "base"}).out) << ids.out;
  Result f = hv({"history", "--format", "{{.Comment}}|{{.Size}}", "app:v1"});
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_EQ(f.out.substr(0, f.out.find('\n')), "first step|2B") << f.out;
  Result author = hv({"history", "--format", "{{.Author}}: {{.Comment}}", "app:v2"});
  EXPECT_EQ(author.out.substr(0, author.out.find("\n", author.out.find('\n') + 1) + 1), ": second step\nJane: first step\n")
      << author.out;
  Result full = hv({"history", "--no-trunc", "app:v1"});
  EXPECT_NE(full.out.find(trim(c1.out)), std::string::npos) << full.out;

  Result g = hv({"history", "--graph"});
  ASSERT_EQ(g.code, 0) << g.err;
  // base at the root, app:v1 under it, app:v2 and app:branch under app:v1
  // (busybox, the fixture's, is a root of its own).
  std::vector<std::string> lines;
  for (size_t p = 0, n; p < g.out.size(); p = n + 1) {
    n = g.out.find('\n', p);
    std::string line = g.out.substr(p, n - p);
    if (line.find("busybox:latest") == std::string::npos) lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 4u) << g.out;
  EXPECT_NE(lines[0].find("* "), std::string::npos);
  EXPECT_NE(lines[0].find("base:latest"), std::string::npos) << g.out;
  EXPECT_NE(lines[1].find("`-* "), std::string::npos) << g.out;
  EXPECT_NE(lines[1].find("app:v1"), std::string::npos) << g.out;
  EXPECT_NE(lines[2].find("  |-* "), std::string::npos) << g.out;
  EXPECT_NE(lines[3].find("  `-* "), std::string::npos) << g.out;
  EXPECT_NE(g.out.find("app:v2"), std::string::npos) << g.out;
  EXPECT_NE(g.out.find("app:branch"), std::string::npos) << g.out;
}

TEST_F(Changes, HistoryShowsAMultiLineCommandOnOneRowAndNoTruncKeepsItsLines) {
  HVRUN_REQUIRE_ROOT();
  ASSERT_EQ(hv({"run", "--name", "ml", "base", "sh", "-c", "\n  echo a > /a\n\techo b > /b"}).code, 0);
  ASSERT_EQ(hv({"commit", "-m", "two lines", "ml", "ml:1"}).code, 0);
  Result h = hv({"history", "ml:1"});
  ASSERT_EQ(h.code, 0) << h.err;
  // Header, the commit's row, the base image's row: three lines, and the
  // commit's row carries the command with its white space folded.
  std::vector<std::string> rows;
  for (size_t p = 0, n; p < h.out.size(); p = n + 1) rows.push_back(h.out.substr(p, (n = h.out.find('\n', p)) - p));
  ASSERT_EQ(rows.size(), 3u) << h.out;
  EXPECT_NE(rows[1].find("sh -c echo a > /a echo b > /b"), std::string::npos) << h.out;
  EXPECT_NE(rows[1].find("two lines"), std::string::npos) << h.out;
  Result full = hv({"history", "--no-trunc", "--format", "{{.CreatedBy}}", "ml:1"});
  ASSERT_EQ(full.code, 0) << full.err;
  EXPECT_EQ(full.out.substr(0, full.out.find("\n\n") + 1), "sh -c \n  echo a > /a\n echo b > /b\n") << full.out;
}

TEST_F(Changes, CommitOfARunningContainerFreezesItAndItKeepsRunning) {
  HVRUN_REQUIRE_ROOT();
  Result d = hv({"run", "-d", "--name", "loop", "base", "sh", "-c",
                 // (replaced by rename: a freeze never finds it half-written)
                 "i=0; while :; do i=$((i+1)); echo $i > /counter.new; mv /counter.new /counter; sleep 0.05; done"});
  ASSERT_EQ(d.code, 0) << d.err;
  const std::string id = trim(d.out);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Result c = hv({"--debug", "commit", "-m", "snapshot", "loop", "snap:1"});
  ASSERT_EQ(c.code, 0) << c.err;
  // The freezer went FROZEN (read back from the kernel) and back to THAWED.
  size_t froze = c.err.find("froze ");
  size_t thawed = c.err.find("thawed ");
  ASSERT_NE(froze, std::string::npos) << c.err;
  ASSERT_NE(thawed, std::string::npos) << c.err;
  EXPECT_LT(froze, thawed);
  EXPECT_NE(c.err.find(": FROZEN", froze), std::string::npos) << c.err;
  EXPECT_NE(c.err.find(": THAWED", thawed), std::string::npos) << c.err;
  EXPECT_NE(c.err.find(id), std::string::npos) << c.err;
  // It still runs, and writes on.
  Result ps = hv({"ps", "--format", "{{.Names}} {{.Status}}"});
  EXPECT_NE(ps.out.find("loop Up"), std::string::npos) << ps.out;
  auto counter = [&] { return std::stol("0" + trim(hv({"exec", "loop", "cat", "/counter"}).out)); };
  long a = counter();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  long b = counter();
  EXPECT_GT(b, a) << "the container did not resume";
  const std::string cg = "/sys/fs/cgroup/freezer/hvrun/" + id + "/freezer.state";  // v1 hosts
  if (fs::exists(cg)) {
    EXPECT_EQ(trim(run({"cat", cg}).out), "THAWED");
  }
  // The image holds the counter as it was when frozen.
  Result snap = hv({"run", "--rm", "snap:1", "cat", "/counter"});
  EXPECT_EQ(snap.code, 0) << snap.err;
  EXPECT_GT(std::stol("0" + trim(snap.out)), 0);
  // --pause=false: no freezing.
  Result np = hv({"--debug", "commit", "--pause=false", "loop", "snap:2"});
  ASSERT_EQ(np.code, 0) << np.err;
  EXPECT_EQ(np.err.find("froze "), std::string::npos) << np.err;
}

TEST_F(Changes, ExportWritesTheMergedFilesystemToAFileOrAPipeAndRefusesATerminal) {
  HVRUN_REQUIRE_ROOT();
  ASSERT_EQ(hv({"run", "--name", "c1", "base", "sh", "-c", kChanges}).code, 0);
  TempDir out;
  const std::string tar = out.path() + "/c1.tar";
  Result e = hv({"export", "c1", "-o", tar});
  ASSERT_EQ(e.code, 0) << e.err;
  Result list = run({"tar", "-tf", tar});
  ASSERT_EQ(list.code, 0) << list.err;
  for (const char* want : {"added.txt\n", "data/fresh\n", "etc/keep\n", "newdir/f\n", "bin/busybox\n"})
    EXPECT_NE(list.out.find(want), std::string::npos) << want;
  for (const char* gone : {"etc/gone\n", "data/a\n", "data/b\n", ".wh."})
    EXPECT_EQ(list.out.find(gone), std::string::npos) << gone;
  EXPECT_EQ(run({"tar", "-xOf", tar, "etc/keep"}).out, "keep\nmore\n");
  // To stdout (a pipe here) it is the same archive.
  Result piped = run({"sh", "-c", "'" + hvrun_bin() + "' --root '" + root() + "' export c1 | tar -tf -"});
  EXPECT_EQ(piped.code, 0) << piped.err;
  EXPECT_EQ(piped.out, list.out);
  // Never onto a terminal.
  Result tty = run_in_pty({hvrun_bin(), "--root", root(), "export", "c1"}, {}, 30);
  EXPECT_EQ(tty.code, 125) << tty.out;
  EXPECT_NE(tty.out.find("hvrun: refusing to write a tar archive to a terminal"), std::string::npos) << tty.out;
}

TEST_F(Changes, BadInputIsOneLineWithStatus125AndLeavesTheStoreAlone) {
  HVRUN_REQUIRE_ROOT();
  ASSERT_EQ(hv({"run", "--name", "c1", "base", "sh", "-c", kChanges}).code, 0);
  const std::string before = store_listing();
  TempDir out;
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const Case& k : std::vector<Case>{
           {{"diff", "nosuch"}, "hvrun: no such container: nosuch"},
           {{"commit", "nosuch", "x:1"}, "hvrun: no such container: nosuch"},
           {{"commit", "c1", "Bad Ref!!"}, "hvrun: invalid reference format"},
           {{"commit", "-c", "FROB x", "c1", "x:1"}, "hvrun: invalid -c 'FROB x': unknown instruction FROB"},
           {{"commit", "-c", "EXPOSE 99999", "c1"}, "hvrun: invalid -c 'EXPOSE 99999'"},
           {{"history", "nosuch"}, "hvrun: no such image: nosuch"},
           {{"export", "nosuch", "-o", out.path() + "/x.tar"}, "hvrun: no such container: nosuch"},
           {{"commit", "--bogus", "c1"}, "hvrun: commit: unknown flag: --bogus"},
       }) {
    Result r = hv(k.args);
    std::string cmd;
    for (auto& a : k.args) cmd += a + " ";
    EXPECT_EQ(r.code, 125) << cmd << r.err;
    EXPECT_EQ(r.out, "") << cmd;
    EXPECT_EQ(r.err.find(k.says), 0u) << cmd << ": " << r.err;
    if (k.args[1] != "--bogus") {
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << cmd << r.err;
    }
  }
  EXPECT_EQ(store_listing(), before);
  EXPECT_FALSE(fs::exists(out.path() + "/x.tar"));
  EXPECT_TRUE(fs::is_empty(root() + "/tmp")) << "staging left behind";
  // The container is as it was.
  EXPECT_EQ(hv({"diff", "c1"}).out, kDiff);
}

// A microVM's changes are /upper on its writable disk (vm-rw.ext4), read
// on the host without mounting it. This machine cannot boot a microVM (the
// real one runs in VmChanges.DiffCommitExportOfStoppedAndRunningMicroVms, in the nested
// test host): the record of a stopped container is made a VM's here, its
// upper directory moved onto a disk laid out as guest-init leaves it.
TEST_F(Changes, AStoppedMicroVmsChangesAreReadFromItsWritableDisk) {
  HVRUN_REQUIRE_ROOT();
  ASSERT_EQ(hv({"run", "--name", "c1", "base", "sh", "-c", kChanges}).code, 0);
  const std::string id = trim(hv({"inspect", "--format", "{{.Id}}", "c1"}).out);
  const std::string dir = root() + "/containers/" + id;
  TempDir t;
  ASSERT_EQ(run({"sh", "-c",
                 "mkdir '" + t.path() + "/src' && mv '" + dir + "/upper' '" + t.path() + "/src/upper' && truncate -s 64M '" +
                     dir + "/vm-rw.ext4' && mkfs.ext4 -q -F -O ^has_journal -d '" + t.path() + "/src' '" + dir +
                     "/vm-rw.ext4' && sed -i 's/\"mode\":\"container\"/\"mode\":\"vm\"/' '" + dir + "/config.json'"})
                .code,
            0);
  ASSERT_NE(read_text(dir + "/config.json").find("\"mode\":\"vm\""), std::string::npos);
  Result d = hv({"diff", "c1"});
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(d.out, kDiff);
  Result c = hv({"commit", "-m", "from the disk", "c1", "fromvm:1"});
  ASSERT_EQ(c.code, 0) << c.err;
  Result look = hv({"run", "--rm", "fromvm:1", "sh", "-c", "cat /added.txt; ls /data; cat /etc/keep; test -e /etc/gone || echo gone-absent"});
  EXPECT_EQ(look.out, "new\nfresh\nkeep\nmore\ngone-absent\n") << look.err;
  Result list = run({"sh", "-c", "'" + hvrun_bin() + "' --root '" + root() + "' export c1 | tar -tf -"});
  EXPECT_NE(list.out.find("data/fresh\n"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("etc/gone\n"), std::string::npos);
  // The copies taken out of the disk are gone again, the disk unchanged.
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().rfind("vm-upper", 0), std::string::npos) << e.path();
  // A disk that is not there: the VM never ran.
  ASSERT_EQ(::unlink((dir + "/vm-rw.ext4").c_str()), 0);
  Result none = hv({"diff", "c1"});
  EXPECT_EQ(none.code, 125);
  EXPECT_NE(none.err.find("has no writable disk"), std::string::npos) << none.err;
}

// A fake monitor of a running microVM: holds the container's lock (so the
// record reads "running") and, unless told "nosocket", answers freeze/thaw on
// ROOT/containers/<id>/control.sock as the real one does (engine/
// vm_control.hpp), logging each request and each disconnect to fake.log.
// A file fake.fail makes it refuse the freeze with the guest's reason.
const char* kFakeMonitor = R"(import fcntl, os, socket, sys, time
os.chdir(sys.argv[1])
lk = open("lock", "a")
fcntl.flock(lk, fcntl.LOCK_EX)
if sys.argv[2] == "nosocket":
    open("fake.ready", "w").close()
    time.sleep(600)
    sys.exit(0)
try:
    os.unlink("control.sock")
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX)
s.bind("control.sock")
s.listen(4)
log = open("fake.log", "a", buffering=1)
open("fake.ready", "w").close()
while True:
    c, _ = s.accept()
    f = c.makefile("rw", buffering=1)
    for line in f:
        req = line.strip()
        log.write(req + "\n")
        if req == "freeze" and os.path.exists("fake.fail"):
            f.write("error: FIFREEZE /mnt/rw: Operation not supported\n")
        else:
            f.write({"freeze": "frozen", "thaw": "thawed"}.get(req, "error: ?") + "\n")
        f.flush()
    log.write("bye\n")
    c.close()
)";

// A running microVM's commit and export freeze its guest's file system
// through its monitor's control socket, and thaw it when the disk is read;
// diff freezes when it can, and --pause=false reads the disk as it is. (The
// real guest runs in VmChanges.*, in the nested test host.)
TEST_F(Changes, ARunningMicroVmIsFrozenThroughItsMonitorWhileItsDiskIsRead) {
  HVRUN_REQUIRE_ROOT();
  ASSERT_EQ(hv({"run", "--name", "c1", "base", "sh", "-c", kChanges}).code, 0);
  const std::string id = trim(hv({"inspect", "--format", "{{.Id}}", "c1"}).out);
  const std::string dir = root() + "/containers/" + id;
  TempDir t;
  ASSERT_EQ(run({"sh", "-c",
                 "mkdir '" + t.path() + "/src' && mv '" + dir + "/upper' '" + t.path() + "/src/upper' && truncate -s 64M '" +
                     dir + "/vm-rw.ext4' && mkfs.ext4 -q -F -O ^has_journal -d '" + t.path() + "/src' '" + dir +
                     "/vm-rw.ext4' && sed -i 's/\"mode\":\"container\"/\"mode\":\"vm\"/' '" + dir +
                     "/config.json' && sed -i 's/\"status\":\"exited\"/\"status\":\"running\"/' '" + dir + "/state.json'"})
                .code,
            0);
  ASSERT_NE(read_text(dir + "/state.json").find("\"status\":\"running\""), std::string::npos);
  const std::string script = t.path() + "/fake_monitor.py";
  {
    std::ofstream(script) << kFakeMonitor;
  }
  struct Fake {
    std::string pid;
    ~Fake() {
      if (!pid.empty()) (void)run({"kill", pid});
    }
  };
  auto start_fake = [&](const char* mode) {
    ::unlink((dir + "/fake.ready").c_str());
    Result r = run({"sh", "-c", "python3 '" + script + "' '" + dir + "' " + mode + " </dev/null >/dev/null 2>&1 & echo $!"});
    for (int i = 0; i < 500 && !fs::exists(dir + "/fake.ready"); ++i) ::usleep(10000);
    EXPECT_TRUE(fs::exists(dir + "/fake.ready"));
    return trim(r.out);
  };
  auto one_line = [](const Result& r) { return std::count(r.err.begin(), r.err.end(), '\n') == 1; };
  {
    // A monitor with no control socket (an older hvrun's): commit and export
    // refuse in one line; diff and commit --pause=false read the disk as it is.
    Fake fake{start_fake("nosocket")};
    Result c = hv({"commit", "c1", "nofreeze:1"});
    EXPECT_EQ(c.code, 125);
    EXPECT_TRUE(one_line(c)) << c.err;
    EXPECT_NE(c.err.find("cannot commit the running microVM c1: its monitor offers no freeze"), std::string::npos)
        << c.err;
    Result e = hv({"export", "c1", "-o", t.path() + "/no.tar"});
    EXPECT_EQ(e.code, 125);
    EXPECT_TRUE(one_line(e)) << e.err;
    EXPECT_NE(e.err.find("cannot export the running microVM c1: its monitor offers no freeze"), std::string::npos)
        << e.err;
    EXPECT_FALSE(fs::exists(t.path() + "/no.tar"));
    Result d = hv({"diff", "c1"});
    EXPECT_EQ(d.code, 0) << d.err;
    EXPECT_EQ(d.out, kDiff);
    Result p = hv({"commit", "--pause=false", "c1", "asis:1"});
    EXPECT_EQ(p.code, 0) << p.err;
  }
  Fake fake{start_fake("serve")};
  // The fake writes "bye" once it sees the client's end, which may come a
  // moment after hvrun has exited: the log is awaited (5 s at most).
  auto log = [&](const std::string& want) {
    std::string got;
    for (int i = 0; i < 250; ++i, ::usleep(20000))
      if ((got = read_text(dir + "/fake.log")) == want) break;
    return got;
  };
  Result c = hv({"commit", "-m", "while it ran", "c1", "frozen:1"});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(log("freeze\nthaw\nbye\n"), "freeze\nthaw\nbye\n");
  Result look = hv({"run", "--rm", "frozen:1", "sh", "-c", "cat /added.txt; ls /data"});
  EXPECT_EQ(look.out, "new\nfresh\n") << look.err;
  Result list = run({"sh", "-c", "'" + hvrun_bin() + "' --root '" + root() + "' export c1 | tar -tf -"});
  EXPECT_NE(list.out.find("data/fresh\n"), std::string::npos) << list.out << list.err;
  EXPECT_EQ(log("freeze\nthaw\nbye\nfreeze\nthaw\nbye\n"), "freeze\nthaw\nbye\nfreeze\nthaw\nbye\n");
  Result d = hv({"diff", "c1"});
  EXPECT_EQ(d.out, kDiff) << d.err;
  const std::string three = "freeze\nthaw\nbye\nfreeze\nthaw\nbye\nfreeze\nthaw\nbye\n";
  EXPECT_EQ(log(three), three);
  // The guest cannot freeze: commit fails with its reason, in one line,
  // and the store is as it was.
  ASSERT_EQ(run({"touch", dir + "/fake.fail"}).code, 0);
  const std::string before = store_listing();
  Result f = hv({"commit", "c1", "failed:1"});
  EXPECT_EQ(f.code, 125);
  EXPECT_TRUE(one_line(f)) << f.err;
  EXPECT_NE(f.err.find("cannot commit the running microVM c1: freezing its file system failed: FIFREEZE /mnt/rw: "
                       "Operation not supported"),
            std::string::npos)
      << f.err;
  EXPECT_EQ(store_listing(), before);
  // diff still answers, reading the disk as it is.
  d = hv({"diff", "c1"});
  EXPECT_EQ(d.out, kDiff) << d.err;
}

}  // namespace
