// hvrun-oci driven as an engine drives runc: a bundle made by `hvrun-oci
// spec`, then create / state / start / kill / delete / run / pause / list,
// the console socket, and bad input (one line, non-zero, in the --log).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "harness.hpp"

namespace hvrun::test {
namespace {

using nlohmann::json;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The namespace `ns` ("net", "user", ...) of process `pid` ("self" too), as
// its /proc link reads ("net:[4026531840]").
std::string ns_of(const std::string& pid, const char* ns) {
  char buf[128] = {};
  const std::string link = "/proc/" + pid + "/ns/" + ns;
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : "(" + link + " unreadable)";
}

// A process holding namespaces of its own (`unshare` started by the shell
// `command`, detached), killed with what it started when this goes.
struct NamespaceHolder {
  std::string pid;
  explicit NamespaceHolder(const std::string& command) {
    Result h = run({"sh", "-c", command + " </dev/null >/dev/null 2>&1 & echo $!"});
    if (h.code == 0) pid = trim(h.out);
  }
  ~NamespaceHolder() {
    if (!pid.empty()) run({"kill", "-9", pid});
  }
};

class OciRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (CI runs as root)";
    dir_ = std::make_unique<TempDir>();
    bundle_ = dir_->path() + "/bundle";
    state_root_ = dir_->path() + "/state";
    log_ = dir_->path() + "/runtime.log";
    ASSERT_EQ(::mkdir(bundle_.c_str(), 0755), 0);
    Result r = run({HVRUN_OCI_BIN, "spec", "--bundle", bundle_});
    ASSERT_EQ(r.code, 0) << r.err;
    config_ = json::parse(slurp(bundle_ + "/config.json"));
    config_["root"]["path"] = busybox_rootfs();  // read-only in the default spec: shared safely
    config_["process"]["terminal"] = false;
  }
  void TearDown() override {
    if (!dir_) return;
    Result ids = oci({"list", "-q"});
    std::istringstream in(ids.out);
    for (std::string id; std::getline(in, id);)
      if (!id.empty()) oci({"delete", "--force", id});
  }
  void write_config(const std::vector<std::string>& args) {
    config_["process"]["args"] = args;
    std::ofstream(bundle_ + "/config.json") << config_.dump(2);
  }
  Result oci(const std::vector<std::string>& args, int timeout_s = 30) {
    std::vector<std::string> argv = {HVRUN_OCI_BIN, "--root", state_root_, "--log", log_, "--log-format", "json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, "", timeout_s);
  }
  // create, with the container's stdio on files (the init keeps them open
  // until it ends, so the harness's pipes would never see EOF).
  Result create(const std::string& id, const std::string& extra = "") {
    std::string cmd = std::string("cd '") + bundle_ + "' && exec '" + HVRUN_OCI_BIN + "' --root '" + state_root_ +
                      "' --log '" + log_ + "' --log-format json create --pid-file '" + dir_->path() + "/pid' " + extra + " " + id + " >'" + out_file() +
                      "' 2>'" + dir_->path() + "/create.err' </dev/null";
    Result r = run({"sh", "-c", cmd});
    r.err = slurp(dir_->path() + "/create.err");
    return r;
  }
  std::string out_file() const { return dir_->path() + "/out"; }
  std::string status(const std::string& id) {
    Result r = oci({"state", id});
    if (r.code != 0) return "(state failed: " + r.err + ")";
    return json::parse(r.out).value("status", "?");
  }
  // Polls until `id` has `want` (up to 5 s).
  std::string wait_status(const std::string& id, const std::string& want) {
    std::string s;
    for (int i = 0; i < 100; ++i) {
      s = status(id);
      if (s == want) break;
      ::usleep(50 * 1000);
    }
    return s;
  }

  std::unique_ptr<TempDir> dir_;
  std::string bundle_, state_root_, log_;
  json config_;
};

TEST_F(OciRuntime, CreateLeavesTheProcessWaitingStartRunsItDeleteRemovesEverything) {
  write_config({"sh", "-c", "echo started as $$; exec sleep 60"});
  Result c = create("c1");
  ASSERT_EQ(c.code, 0) << c.err;
  Result st = oci({"state", "c1"});
  ASSERT_EQ(st.code, 0) << st.err;
  json s = json::parse(st.out);
  EXPECT_EQ(s["status"], "created");
  EXPECT_EQ(s["id"], "c1");
  EXPECT_EQ(s["bundle"], bundle_);
  EXPECT_EQ(s["ociVersion"], "1.0.2");
  int pid = s["pid"].get<int>();
  EXPECT_GT(pid, 0);
  EXPECT_EQ(slurp(dir_->path() + "/pid"), std::to_string(pid));
  ::usleep(200 * 1000);
  EXPECT_EQ(slurp(out_file()), "") << "the process ran before start";

  Result go = oci({"start", "c1"});
  ASSERT_EQ(go.code, 0) << go.err;
  EXPECT_EQ(status("c1"), "running");
  std::string out;
  for (int i = 0; i < 100 && out.empty(); ++i, ::usleep(50 * 1000)) out = slurp(out_file());
  EXPECT_EQ(out, "started as 1\n");
  Result again = oci({"start", "c1"});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("running"), std::string::npos) << again.err;

  Result ps = oci({"ps", "--format", "json", "c1"});
  ASSERT_EQ(ps.code, 0) << ps.err;
  EXPECT_EQ(json::parse(ps.out), json::array({pid}));

  ASSERT_EQ(oci({"kill", "c1", "KILL"}).code, 0);
  EXPECT_EQ(wait_status("c1", "stopped"), "stopped");
  EXPECT_EQ(json::parse(oci({"state", "c1"}).out)["pid"], 0);
  Result kill_stopped = oci({"kill", "c1"});
  EXPECT_NE(kill_stopped.code, 0);
  EXPECT_NE(kill_stopped.err.find("not running"), std::string::npos) << kill_stopped.err;

  Result del = oci({"delete", "c1"});
  ASSERT_EQ(del.code, 0) << del.err;
  Result gone = oci({"state", "c1"});
  EXPECT_EQ(gone.code, 1);
  EXPECT_EQ(trim(gone.err), "hvrun-oci: container c1 does not exist");
  EXPECT_FALSE(std::ifstream("/sys/fs/cgroup/pids/hvrun-oci/c1/cgroup.procs").good()) << "cgroup left behind";
  EXPECT_EQ(oci({"list", "-q"}).out, "");
}

TEST_F(OciRuntime, RunWaitsExitsWithTheContainersCodeAndLeavesNoState) {
  write_config({"sh", "-c", "echo hi; exit 3"});
  Result r = run({"sh", "-c", std::string("cd '") + bundle_ + "' && exec '" + HVRUN_OCI_BIN + "' --root '" +
                                  state_root_ + "' run r1 </dev/null"});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(oci({"list", "-q"}).out, "");
}

TEST_F(OciRuntime, TheConfigsProcessHostnameAndReadonlyRootAreApplied) {
  config_["hostname"] = "ocibox";
  config_["process"]["env"] = {"PATH=/bin", "FOO=bar"};
  config_["process"]["cwd"] = "/tmp";
  config_["process"]["user"] = {{"uid", 65534}, {"gid", 65534}};
  write_config({"sh", "-c", "hostname; echo $FOO; pwd; id -u; id -g; touch /x 2>/dev/null || echo read-only"});
  Result r = run({HVRUN_OCI_BIN, "--root", state_root_, "run", "--bundle", bundle_, "p1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "ocibox\nbar\n/tmp\n65534\n65534\nread-only\n");
}

TEST_F(OciRuntime, TheConfigsUidAndGidMappingsAreTheUserNamespacesMapsAndABadOneIsRefusedInOneLine) {
  // The mapped root must reach its root directory, as with runc: a copy in
  // a bundle others may search.
  ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
  ASSERT_EQ(std::system(("cp -a " + busybox_rootfs() + " " + bundle_ + "/rootfs").c_str()), 0);
  config_["root"]["path"] = "rootfs";
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 300000}, {"size", 1000}},
                                     {{"containerID", 1000}, {"hostID", 301000}, {"size", 10}}};
  write_config({"sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map | tr -s ' '; id -u"});
  Result r = run({HVRUN_OCI_BIN, "--root", state_root_, "run", "--bundle", bundle_, "m1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, " 0 200000 65536\n 0 300000 1000\n 1000 301000 10\n0\n");
  // Overlapping ranges: the kernel refuses the map; one line names it, and
  // nothing is left behind.
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 100}},
                                     {{"containerID", 50}, {"hostID", 400000}, {"size", 100}}};
  write_config({"true"});
  r = run({HVRUN_OCI_BIN, "--root", state_root_, "run", "--bundle", bundle_, "m2"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("0 200000 100,50 400000 100"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("uid_map"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(oci({"list", "-q"}).out, "");
}

TEST_F(OciRuntime, DeleteRefusesARunningContainerForceKillsIt) {
  write_config({"sleep", "60"});
  ASSERT_EQ(create("d1").code, 0);
  ASSERT_EQ(oci({"start", "d1"}).code, 0);
  Result no = oci({"delete", "d1"});
  EXPECT_EQ(no.code, 1);
  EXPECT_EQ(trim(no.err), "hvrun-oci: cannot delete container d1 that is not stopped: running");
  EXPECT_EQ(status("d1"), "running");
  int pid = json::parse(oci({"state", "d1"}).out)["pid"].get<int>();
  Result yes = oci({"delete", "--force", "d1"});
  EXPECT_EQ(yes.code, 0) << yes.err;
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << "still alive: " << stat;
  EXPECT_EQ(oci({"delete", "--force", "d1"}).code, 0) << "force on a missing container is no error (runc)";
}

TEST_F(OciRuntime, ACreatedContainerIsDeletedWithoutEverRunning) {
  write_config({"sh", "-c", "echo ran"});
  ASSERT_EQ(create("n1").code, 0);
  EXPECT_EQ(oci({"delete", "n1"}).code, 0);
  EXPECT_EQ(oci({"list", "-q"}).out, "");
  ::usleep(100 * 1000);
  EXPECT_EQ(slurp(out_file()), "");
}

TEST_F(OciRuntime, PauseFreezesAndResumeThawsTheContainer) {
  write_config({"sleep", "60"});
  ASSERT_EQ(create("f1").code, 0);
  ASSERT_EQ(oci({"start", "f1"}).code, 0);
  ASSERT_EQ(oci({"pause", "f1"}).code, 0);
  EXPECT_EQ(status("f1"), "paused");
  Result list = oci({"list", "--format", "json"});
  ASSERT_EQ(list.code, 0);
  EXPECT_EQ(json::parse(list.out)[0]["status"], "paused");
  Result twice = oci({"pause", "f1"});
  EXPECT_NE(twice.code, 0);
  ASSERT_EQ(oci({"resume", "f1"}).code, 0);
  EXPECT_EQ(status("f1"), "running");
}

TEST_F(OciRuntime, UpdateChangesTheLimitsOfARunningContainerAndExecSeesThem) {
  write_config({"sleep", "60"});
  ASSERT_EQ(create("u1").code, 0);
  ASSERT_EQ(oci({"start", "u1"}).code, 0);
  const std::vector<std::string> show = {
      "exec", "u1", "sh", "-c",
      "for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids.max "
      "/sys/fs/cgroup/pids/pids.max; do [ ! -e $f ] || cat $f; done"};
  Result up = oci({"update", "--memory", "33554432", "--pids-limit", "50", "u1"});
  ASSERT_EQ(up.code, 0) << up.err;
  EXPECT_EQ(oci(show).out, "33554432\n50\n");
  std::ofstream(dir_->path() + "/res.json") << R"({"memory": {"limit": 67108864}, "pids": {"limit": 64}})";
  Result up2 = oci({"update", "--resources", dir_->path() + "/res.json", "u1"});
  ASSERT_EQ(up2.code, 0) << up2.err;
  EXPECT_EQ(oci(show).out, "67108864\n64\n");
  std::ofstream(dir_->path() + "/bad.json") << R"({"cpu": {"shares": 2}})";
  Result bad = oci({"update", "--resources", dir_->path() + "/bad.json", "u1"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(trim(bad.err), "hvrun-oci: update: cpu.shares: is not applied by hvrun-oci");
  EXPECT_EQ(oci(show).out, "67108864\n64\n") << "a refused update changed something";
}

TEST_F(OciRuntime, HooksRunWithTheStateOnStdinAndAFailingPrestartFailsTheCreate) {
  auto hook = [&](const std::string& name) {
    return json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > " + dir_->path() + "/" + name + ".json"}}};
  };
  config_["hooks"] = {{"prestart", {hook("prestart")}},
                      {"createRuntime", {hook("createRuntime")}},
                      {"poststart", {hook("poststart")}},
                      {"poststop", {hook("poststop")}}};
  write_config({"sleep", "60"});
  Result c = create("h1");
  ASSERT_EQ(c.code, 0) << c.err;
  json pre = json::parse(slurp(dir_->path() + "/prestart.json"));
  EXPECT_EQ(pre["status"], "creating");
  EXPECT_EQ(pre["id"], "h1");
  EXPECT_EQ(pre["bundle"], bundle_);
  int pid = json::parse(oci({"state", "h1"}).out)["pid"].get<int>();
  EXPECT_EQ(pre["pid"], pid);
  EXPECT_EQ(json::parse(slurp(dir_->path() + "/createRuntime.json"))["pid"], pid);
  EXPECT_EQ(slurp(dir_->path() + "/poststart.json"), "");
  ASSERT_EQ(oci({"start", "h1"}).code, 0);
  EXPECT_EQ(json::parse(slurp(dir_->path() + "/poststart.json"))["status"], "running");
  ASSERT_EQ(oci({"delete", "--force", "h1"}).code, 0);
  EXPECT_EQ(json::parse(slurp(dir_->path() + "/poststop.json"))["status"], "stopped");

  config_["hooks"] = {{"prestart", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "exit 3"}}}}}};
  write_config({"true"});
  Result failed = create("h2");
  EXPECT_EQ(failed.code, 1);
  EXPECT_EQ(trim(failed.err), "hvrun-oci: hook /bin/sh: exit status 3");
  config_["hooks"] = {{"createRuntime", {{{"path", "/bin/sleep"}, {"args", {"sleep", "30"}}, {"timeout", 1}}}}};
  write_config({"true"});
  Result slow = create("h3");
  EXPECT_EQ(slow.code, 1);
  EXPECT_EQ(trim(slow.err), "hvrun-oci: hook /bin/sleep: timed out after 1 s");
  config_["hooks"] = {{"startContainer", {{{"path", "/bin/true"}}}}};
  write_config({"true"});
  Result inside = create("h4");
  EXPECT_EQ(inside.code, 1);
  EXPECT_NE(inside.err.find("hooks.startContainer: hooks run inside the container are not supported yet"),
            std::string::npos)
      << inside.err;
  EXPECT_EQ(oci({"list", "-q"}).out, "") << "a failed create left state behind";
}

TEST_F(OciRuntime, ATerminalsMasterGoesToTheConsoleSocket) {
  std::string sock_path = dir_->path() + "/console.sock";
  int ls = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, sock_path.c_str(), sizeof a.sun_path - 1);
  ASSERT_EQ(::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(ls, 1), 0);
  int master = -1;
  std::thread receiver([&] {
    int c = ::accept(ls, nullptr, nullptr);
    if (c < 0) return;
    char byte[64];
    char ctl[CMSG_SPACE(sizeof(int))];
    iovec iov{byte, sizeof byte};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    if (::recvmsg(c, &m, 0) > 0)
      for (cmsghdr* h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
        if (h->cmsg_type == SCM_RIGHTS) std::memcpy(&master, CMSG_DATA(h), sizeof master);
    ::close(c);
  });
  config_["process"]["terminal"] = true;
  write_config({"sh", "-c", "tty; echo cols $(stty size)"});
  Result c = create("t1", "--console-socket '" + sock_path + "'");
  receiver.join();
  ::close(ls);
  ASSERT_EQ(c.code, 0) << c.err;
  ASSERT_GE(master, 0) << "no fd came over the console socket";
  ASSERT_EQ(oci({"start", "t1"}).code, 0);
  std::string got;
  char buf[256];
  for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) got.append(buf, size_t(n));  // EIO once it ends
  ::close(master);
  EXPECT_NE(got.find("/dev/pts/0"), std::string::npos) << got;
  Result no_socket = create("t2");
  EXPECT_EQ(no_socket.code, 1);
  EXPECT_NE(no_socket.err.find("--console-socket is required"), std::string::npos) << no_socket.err;
}

TEST_F(OciRuntime, BadInputIsOneLineOnStderrAndInTheLogWithANonZeroExit) {
  write_config({"true"});
  Result missing = oci({"start", "nosuch"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(trim(missing.err), "hvrun-oci: container nosuch does not exist");
  Result bad_id = oci({"state", "../etc"});
  EXPECT_EQ(bad_id.code, 1);
  EXPECT_NE(bad_id.err.find("invalid container id"), std::string::npos) << bad_id.err;
  Result bad_signal = oci({"kill", "x", "SIGNOPE"});
  EXPECT_EQ(bad_signal.code, 1);
  EXPECT_EQ(trim(bad_signal.err), "hvrun-oci: invalid signal \"SIGNOPE\"");
  ASSERT_EQ(create("dup").code, 0);
  Result dup = create("dup");
  EXPECT_EQ(dup.code, 1);
  EXPECT_EQ(trim(dup.err), "hvrun-oci: container with id dup exists");
  EXPECT_EQ(status("dup"), "created") << "the first container was harmed by the second create";
  std::ofstream(bundle_ + "/config.json") << "{\"ociVersion\": \"1.0.2\", \"root\": ";
  Result broken = create("broken");
  EXPECT_EQ(broken.code, 1);
  EXPECT_NE(broken.err.find("config.json is not valid JSON"), std::string::npos) << broken.err;
  EXPECT_EQ(std::count(broken.err.begin(), broken.err.end(), '\n'), 1) << broken.err;
  Result unknown = oci({"frobnicate"});
  EXPECT_NE(unknown.code, 0);
  EXPECT_EQ(trim(unknown.err), "hvrun-oci: unknown command \"frobnicate\" (hvrun-oci --help lists them)");
  // Every error above is in the JSON log, one object per line.
  std::istringstream log(slurp(log_));
  int errors = 0;
  for (std::string line; std::getline(log, line);) {
    json j = json::parse(line);
    EXPECT_TRUE(j.contains("time")) << line;
    errors += j["level"] == "error";
  }
  EXPECT_GE(errors, 4);
  EXPECT_EQ(oci({"list", "-q"}).out, "dup\n") << "a failed create left state behind";
}

// linux.namespaces[].path: the process enters those namespaces (as a
// Kubernetes pod's containers enter the sandbox's, podman's its network
// namespace) instead of new ones; a path that is no namespace, or one of
// another kind, is refused in one line and leaves nothing.
TEST_F(OciRuntime, NamespacesGivenByPathAreJoinedAndAWrongOneIsRefusedInOneLine) {
  // The holder: unshare in new net, ipc, uts and cgroup namespaces, with a new pid
  // namespace whose init is its child (sleep).
  NamespaceHolder h("unshare --net --ipc --uts --cgroup --pid --fork --kill-child sh -c 'hostname podns; exec sleep 60'");
  ASSERT_FALSE(h.pid.empty());
  const std::string& holder = h.pid;  // killing unshare kills its child too (--kill-child)
  std::string init;  // the new pid namespace's init
  for (int i = 0; i < 100 && init.empty(); ++i, ::usleep(50 * 1000))
    init = trim(slurp("/proc/" + holder + "/task/" + holder + "/children"));
  ASSERT_FALSE(init.empty()) << "unshare started no child";
  for (int i = 0; i < 100 && trim(run({"nsenter", "-t", init, "-u", "hostname"}).out) != "podns"; ++i)
    ::usleep(50 * 1000);
  ASSERT_EQ(trim(run({"nsenter", "-t", init, "-u", "hostname"}).out), "podns");
  ASSERT_EQ(ns_of(init, "net").rfind("net:[", 0), 0u) << ns_of(init, "net");
  auto set_path = [&](const std::string& type, const std::string& path) {
    for (auto& n : config_["linux"]["namespaces"])
      if (n["type"] == type) n["path"] = path;
  };
  config_.erase("hostname");  // a joined uts namespace keeps its name
  set_path("network", "/proc/" + init + "/ns/net");
  set_path("ipc", "/proc/" + init + "/ns/ipc");
  set_path("uts", "/proc/" + init + "/ns/uts");
  set_path("pid", "/proc/" + init + "/ns/pid");
  set_path("cgroup", "/proc/" + init + "/ns/cgroup");
  write_config({"sh", "-c",
                "hostname; for n in net ipc pid cgroup; do readlink /proc/self/ns/$n; done; "
                "[ $$ != 1 ] && echo not-the-init; ps -o comm | grep -c sleep"});
  Result r = run({HVRUN_OCI_BIN, "--root", state_root_, "run", "--bundle", bundle_, "j1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "podns\n" + ns_of(init, "net") + "\n" + ns_of(init, "ipc") + "\n" + ns_of(init, "pid") +
                       "\n" + ns_of(init, "cgroup") + "\nnot-the-init\n1\n");
  EXPECT_NE(ns_of(init, "net"), ns_of("self", "net"));

  // The ipc namespace's file given as the network's: refused, nothing left.
  set_path("network", "/proc/" + init + "/ns/ipc");
  write_config({"true"});
  Result kind = create("j2");
  EXPECT_EQ(kind.code, 1);
  EXPECT_EQ(trim(kind.err), "hvrun-oci: join the network namespace /proc/" + init +
                                "/ns/ipc: a namespace of another kind");
  set_path("network", bundle_ + "/config.json");
  write_config({"true"});
  Result plain = create("j3");
  EXPECT_EQ(plain.code, 1);
  EXPECT_EQ(trim(plain.err), "hvrun-oci: join the network namespace " + bundle_ + "/config.json: not a namespace file");
  set_path("network", "relative/net");
  write_config({"true"});
  Result rel = create("j4");
  EXPECT_EQ(rel.code, 1);
  EXPECT_NE(rel.err.find("linux.namespaces[") , std::string::npos) << rel.err;
  EXPECT_NE(rel.err.find("must be an absolute path"), std::string::npos) << rel.err;
  set_path("network", "/proc/" + init + "/ns/net");
  set_path("mount", "/proc/" + init + "/ns/mnt");
  write_config({"true"});
  Result mnt = create("j5");
  EXPECT_EQ(mnt.code, 1);
  EXPECT_NE(mnt.err.find("joining an existing mount namespace is not supported yet"), std::string::npos) << mnt.err;
  EXPECT_EQ(oci({"list", "-q"}).out, "") << "a refused create left state behind";
}

// podman --uidmap and --userns=auto: a new user namespace, with the network
// (and here uts) namespace podman made joined by path. The new user
// namespace owns neither, so the runtime sets their hostname and sysctls
// itself before the clone, and /sys is the host's bound read-only (sysfs
// cannot be mounted there); the container's root is host uid 200000, and
// it sees the joined namespace's card. A joined pid namespace with a new
// user namespace is refused in one line (its /proc could not be mounted).
TEST_F(OciRuntime, ANewUserNamespaceJoinsANetworkNamespaceByPathAndTheRuntimeSetsItsSysctls) {
  NamespaceHolder h("unshare --net --uts sleep 60");
  ASSERT_FALSE(h.pid.empty());
  const std::string& holder = h.pid;
  auto in_holder = [&](const std::string& cmd) { return run({"nsenter", "-t", holder, "-n", "-u", "sh", "-c", cmd}); };
  Result link;
  for (int i = 0; i < 100; ++i, ::usleep(50 * 1000))
    if ((link = in_holder("ip link add hvjoin0 type veth peer name hvjoin1 && ip link set hvjoin0 up")).code == 0) break;
  ASSERT_EQ(link.code, 0) << link.err;
  const std::string forward = trim(in_holder("cat /proc/sys/net/ipv4/ip_forward").out);
  ASSERT_TRUE(forward == "0" || forward == "1") << forward;
  const std::string want_forward = forward == "1" ? "0" : "1";

  ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
  ASSERT_EQ(std::system(("cp -a " + busybox_rootfs() + " " + bundle_ + "/rootfs").c_str()), 0);
  config_["root"]["path"] = "rootfs";
  for (auto& n : config_["linux"]["namespaces"]) {
    if (n["type"] == "network") n["path"] = "/proc/" + holder + "/ns/net";
    if (n["type"] == "uts") n["path"] = "/proc/" + holder + "/ns/uts";
  }
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  config_["hostname"] = "usernshost";
  config_["linux"]["sysctl"] = {{"net.ipv4.ip_forward", want_forward}, {"kernel.shmmni", "1234"}};
  write_config({"sh", "-c",
                "head -1 /proc/self/uid_map | tr -s ' '; hostname; cat /proc/sys/net/ipv4/ip_forward "
                "/proc/sys/kernel/shmmni; ls /sys/class/net | grep -c hvjoin0; ip -o link show hvjoin0 | grep -c UP; "
                "touch /sys/x 2>/dev/null || echo sys-read-only"});
  Result r = run({HVRUN_OCI_BIN, "--root", state_root_, "run", "--bundle", bundle_, "u1"});
  EXPECT_EQ(r.code, 0) << r.err;
  // /sys is the host's (the runtime's network namespace's cards): the
  // joined namespace's card shows in `ip link`, not in /sys/class/net.
  EXPECT_EQ(r.out, " 0 200000 65536\nusernshost\n" + want_forward + "\n1234\n0\n1\nsys-read-only\n");
  EXPECT_EQ(trim(in_holder("hostname").out), "usernshost");
  EXPECT_EQ(trim(in_holder("cat /proc/sys/net/ipv4/ip_forward").out), want_forward) << "the joined namespace's sysctl";
  EXPECT_NE(trim(slurp("/proc/sys/kernel/shmmni")), "1234") << "the container's own ipc sysctl reached the host";

  // A detached one: its process is host uid 200000 in the joined network namespace.
  write_config({"sleep", "60"});
  ASSERT_EQ(create("u2").code, 0);
  const std::string pid = std::to_string(json::parse(oci({"state", "u2"}).out)["pid"].get<int>());
  EXPECT_EQ(ns_of(pid, "net"), ns_of(holder, "net"));
  EXPECT_NE(slurp("/proc/" + pid + "/status").find("Uid:\t200000\t200000"), std::string::npos);
  EXPECT_EQ(oci({"delete", "--force", "u2"}).code, 0);

  // A joined pid namespace cannot go with a new user namespace: one line, nothing left.
  for (auto& n : config_["linux"]["namespaces"])
    if (n["type"] == "pid") n["path"] = "/proc/" + holder + "/ns/pid";
  write_config({"true"});
  Result pidns = create("u3");
  EXPECT_EQ(pidns.code, 1);
  EXPECT_EQ(trim(pidns.err), "hvrun-oci: config.json: linux.namespaces: joining an existing pid namespace together "
                             "with a new user namespace is not supported: the new one's root could not mount its /proc");
  EXPECT_EQ(oci({"list", "-q"}).out, "") << "a refused create left state behind";
}

// A pod with user namespaces (Kubernetes hostUsers: false, podman pod
// --userns): its containers join the pod's user namespace by path with its
// network, ipc and uts namespaces, and get new mount and pid namespaces
// owned by it. Root inside is the pod's mapped root (host uid 200000);
// /proc, /sys (the joined card in /sys/class/net) and /dev/mqueue are
// mounted as the namespaces' owner may; an exec joins the same user
// namespace.
TEST_F(OciRuntime, AContainerJoinsAPodsUserNamespaceByPathAndItsNewNamespacesBelongToIt) {
  NamespaceHolder h("unshare --user --net --ipc --uts --pid --fork --kill-child sleep 60");
  ASSERT_FALSE(h.pid.empty());
  const std::string& holder = h.pid;
  std::string init;  // the pod's pid namespace's init (its sleep)
  for (int i = 0; i < 100 && init.empty(); ++i, ::usleep(50 * 1000))
    init = trim(slurp("/proc/" + holder + "/task/" + holder + "/children"));
  ASSERT_FALSE(init.empty()) << "unshare started no child";
  for (int i = 0; i < 100 && ns_of(holder, "user") == ns_of("self", "user"); ++i) ::usleep(50 * 1000);
  ASSERT_NE(ns_of(holder, "user"), ns_of("self", "user")) << "unshare made no user namespace";
  for (const char* map : {"uid_map", "gid_map"}) {  // the pod's maps, written as its runtime would
    std::ofstream out("/proc/" + holder + "/" + map);
    out << "0 200000 65536\n";
    out.close();
    ASSERT_TRUE(out) << "could not write the holder's " << map;
  }
  Result link = run({"nsenter", "-t", holder, "-n", "sh", "-c", "ip link add hvpod0 type veth peer name hvpod1 && ip link set hvpod0 up"});
  ASSERT_EQ(link.code, 0) << link.err;

  ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
  ASSERT_EQ(std::system(("cp -a " + busybox_rootfs() + " " + bundle_ + "/rootfs").c_str()), 0);
  config_["root"]["path"] = "rootfs";
  for (auto& n : config_["linux"]["namespaces"]) {
    const std::string t = n["type"];
    if (t == "network") n["path"] = "/proc/" + holder + "/ns/net";
    if (t == "ipc" || t == "uts") n["path"] = "/proc/" + holder + "/ns/" + t;
  }
  config_["linux"]["namespaces"].push_back({{"type", "user"}, {"path", "/proc/" + holder + "/ns/user"}});
  // podman repeats the pod's maps; the joined namespace's own are what count.
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  config_["hostname"] = "podhost";
  write_config({"sh", "-c",
                "head -1 /proc/self/uid_map | tr -s ' '; id -u; hostname; echo $$; ls /sys/class/net | grep -c hvpod0; "
                "grep -c ' /dev/mqueue mqueue ' /proc/mounts; readlink /proc/self/ns/user"});
  Result r = run({HVRUN_OCI_BIN, "--root", state_root_, "run", "--bundle", bundle_, "pu1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, " 0 200000 65536\n0\npodhost\n1\n1\n1\n" + ns_of(holder, "user") + "\n");
  EXPECT_EQ(trim(run({"nsenter", "-t", holder, "-u", "hostname"}).out), "podhost");

  // Detached, in the pod's pid namespace too (shareProcessNamespace), then
  // an exec: both host uid 200000 in the pod's user namespace, and the pid
  // the state gives is the process's on the host.
  for (auto& n : config_["linux"]["namespaces"])
    if (n["type"] == "pid") n["path"] = "/proc/" + init + "/ns/pid";
  write_config({"sleep", "60"});
  ASSERT_EQ(create("pu2").code, 0);
  ASSERT_EQ(oci({"start", "pu2"}).code, 0);
  const std::string pid = std::to_string(json::parse(oci({"state", "pu2"}).out)["pid"].get<int>());
  EXPECT_EQ(ns_of(pid, "pid"), ns_of(init, "pid")) << "the pod's pid namespace";
  EXPECT_EQ(trim(slurp("/proc/" + pid + "/comm")), "sleep");
  EXPECT_EQ(ns_of(pid, "user"), ns_of(holder, "user"));
  EXPECT_NE(slurp("/proc/" + pid + "/status").find("Uid:\t200000\t200000"), std::string::npos);
  Result ex = oci({"exec", "pu2", "sh", "-c", "id -u; readlink /proc/self/ns/user"});
  EXPECT_EQ(ex.code, 0) << ex.err;
  EXPECT_EQ(ex.out, "0\n" + ns_of(holder, "user") + "\n");
  EXPECT_EQ(oci({"delete", "--force", "pu2"}).code, 0);
  EXPECT_EQ(oci({"list", "-q"}).out, "");
}

// linux.sysctl: the kernel parameters kept per namespace are set in the
// container's own (the host's stay as they were); one that would change
// the host is refused in one line.
TEST_F(OciRuntime, SysctlsAndTheHostnameAreSetInTheContainersNamespacesAndNeverInTheHosts) {
  const std::string host_shmmni = trim(slurp("/proc/sys/kernel/shmmni"));
  const std::string host_forward = trim(slurp("/proc/sys/net/ipv4/ip_forward"));
  const std::string host_domain = trim(slurp("/proc/sys/kernel/domainname"));
  struct PutBack {  // should the feature ever write the host's
    std::string shmmni, forward, domain;
    ~PutBack() {
      std::ofstream("/proc/sys/kernel/shmmni") << shmmni;
      std::ofstream("/proc/sys/net/ipv4/ip_forward") << forward;
      std::ofstream("/proc/sys/kernel/domainname") << domain;
    }
  } put_back{host_shmmni, host_forward, host_domain};
  const std::string want_forward = host_forward == "1" ? "0" : "1";
  config_["linux"]["sysctl"] = {{"kernel.shmmni", "1234"}, {"net/ipv4/ip_forward", want_forward},
                                {"kernel.domainname", "pod.example"}};
  write_config({"sh", "-c", "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/domainname"});
  Result r = run({HVRUN_OCI_BIN, "--root", state_root_, "run", "--bundle", bundle_, "s1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "1234\n" + want_forward + "\npod.example\n");
  EXPECT_EQ(trim(slurp("/proc/sys/kernel/domainname")), host_domain) << "the host's domainname changed";
  EXPECT_EQ(trim(slurp("/proc/sys/kernel/shmmni")), host_shmmni) << "the host's shmmni changed";
  EXPECT_EQ(trim(slurp("/proc/sys/net/ipv4/ip_forward")), host_forward) << "the host's ip_forward changed";
  config_["linux"]["sysctl"] = {{"vm.swappiness", "10"}};
  write_config({"true"});
  Result host_wide = create("s2");
  EXPECT_EQ(host_wide.code, 1);
  EXPECT_EQ(trim(host_wide.err), "hvrun-oci: config.json: linux.sysctl[\"vm.swappiness\"]: \"vm.swappiness\" is not kept "
                                 "per namespace: setting it would change the host");
  config_["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
  for (auto it = config_["linux"]["namespaces"].begin(); it != config_["linux"]["namespaces"].end(); ++it)
    if ((*it)["type"] == "network") {
      config_["linux"]["namespaces"].erase(it);
      break;
    }
  write_config({"true"});
  Result host_net = create("s3");
  EXPECT_EQ(host_net.code, 1);
  EXPECT_NE(host_net.err.find("would change the host's network"), std::string::npos) << host_net.err;
  // The host's own network namespace given by path: refused the same.
  config_["linux"]["namespaces"].push_back({{"type", "network"}, {"path", "/proc/self/ns/net"}});
  write_config({"true"});
  Result joined_host = create("s4");
  EXPECT_EQ(joined_host.code, 1);
  EXPECT_EQ(trim(joined_host.err), "hvrun-oci: sysctl \"net.ipv4.ip_forward\": the namespace joined by path is the "
                                   "runtime's own: setting it would change the host");
  // The host's own uts namespace given by path, with a hostname: refused too.
  config_["linux"].erase("sysctl");
  for (auto& n : config_["linux"]["namespaces"])
    if (n["type"] == "uts") n["path"] = "/proc/self/ns/uts";
  config_["hostname"] = "not-the-hosts";
  write_config({"true"});
  Result host_uts = create("s5");
  EXPECT_EQ(host_uts.code, 1);
  EXPECT_EQ(trim(host_uts.err), "hvrun-oci: hostname \"not-the-hosts\": the uts namespace joined by path is the runtime's "
                                "own: setting it would change the host's");
  char host_name[256] = {};
  ASSERT_EQ(::gethostname(host_name, sizeof host_name - 1), 0);
  EXPECT_STRNE(host_name, "not-the-hosts");
  EXPECT_EQ(oci({"list", "-q"}).out, "") << "a refused create left state behind";
}

// VM mode (oci/vm.hpp) where no Linux guest can boot (no KVM, or a PVM
// one): the create is refused with the reason and leaves nothing; on a
// hardware-KVM host it boots (VmE2E's oci-vm scenario proves the lifecycle
// in the nested test host on every host).
TEST_F(OciRuntime, AMicroVmBundleOnAHostThatCannotBootOneIsRefusedInOneLineAndLeavesNothing) {
  Result check = run({hvrun_bin(), "check", "--json"});
  const json j = json::parse(check.out, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("kvm")) << check.out << check.err;
  const std::string kind = j["kvm"]["kind"].get<std::string>();
  if (kind == "vt-x" || kind == "amd-v")
    GTEST_SKIP() << "this host has hardware KVM (" << kind << "): a microVM bundle boots here";
  config_["annotations"]["io.hvrun.isolation"] = "vm";
  write_config({"true"});
  Result r = create("vm1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("hvrun-oci: cannot run a microVM on this host (KVM kind: " + kind + ")"), std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // The name hvrun-oci-vm does the same for a bundle without the annotation.
  config_["annotations"].erase("io.hvrun.isolation");
  write_config({"true"});
  const std::string vm_tool = std::string(HVRUN_OCI_BIN) + "-vm";
  Result by_name = run({"sh", "-c", "cd '" + bundle_ + "' && exec '" + vm_tool + "' --root '" + state_root_ + "' run vm2"});
  EXPECT_EQ(by_name.code, 1);
  EXPECT_NE(by_name.err.find("cannot run a microVM on this host"), std::string::npos) << by_name.err;
  // An explicit "container" annotation wins over the name.
  config_["annotations"]["io.hvrun.isolation"] = "container";
  write_config({"sh", "-c", "echo in-a-container"});
  Result ctr = run({"sh", "-c", "cd '" + bundle_ + "' && exec '" + vm_tool + "' --root '" + state_root_ + "' run c1"});
  EXPECT_EQ(ctr.code, 0) << ctr.err;
  EXPECT_EQ(ctr.out, "in-a-container\n");
  EXPECT_EQ(oci({"list", "-q"}).out, "") << "a refused create left state behind";
}

// A microVM whose VMM ends without the guest process's exit status (here a
// VMM that exits at once: HVRUN_VMM=/bin/false, the VM forced on any host)
// says why in the --log file too: a detached engine (containerd's ctr run
// -d, podman -d) keeps none of the shim's stderr. The shim ends with 125.
TEST_F(OciRuntime, AMicroVmThatEndsWithoutItsGuestsExitStatusSaysWhyInTheLogFile) {
  config_["annotations"]["io.hvrun.isolation"] = "vm";
  write_config({"true"});
  const std::string log = bundle_ + "/log.json";
  Result r = run({"sh", "-c", "cd '" + bundle_ + "' && HVRUN_FORCE_VM=1 HVRUN_VMM=/bin/false exec '" HVRUN_OCI_BIN
                 "' --root '" + state_root_ + "' --log '" + log + "' --log-format json run vmlog"});
  if (r.err.find("no guest kernel") != std::string::npos) GTEST_SKIP() << "no guest kernel built: " << r.err;
  EXPECT_EQ(r.code, 125) << r.err;
  std::string text = slurp(log);
  ASSERT_FALSE(text.empty()) << "nothing in the --log file; stderr: " << r.err;
  bool found = false;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const json j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not one JSON object per line: " << line;
    if (j.value("level", "") == "error" && j.value("msg", "").rfind("microVM: ", 0) == 0) found = true;
  }
  EXPECT_TRUE(found) << "no error line that starts \"microVM: \" in " << text;
  EXPECT_EQ(oci({"list", "-q"}).out, "") << "run left state behind";
}

}  // namespace
}  // namespace hvrun::test
