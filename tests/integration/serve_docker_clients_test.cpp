// hvrun serve driven by programs: docker-py (python3-docker), the sandbox
// API's Python client (docs/examples/hvrun_sandbox.py) and a load of 200
// concurrent requests (serve_load.py).
#include <algorithm>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "serve_docker.hpp"

namespace hvrun::test {
namespace {

TEST_F(ServeDocker, TwoHundredConcurrentRequestsOverFiftyContainersLoseAndLeakNothing) {
  Result load = run({kPython, source_dir() + "/tests/integration/serve_load.py", sock_, std::to_string(server_)}, "", 600);
  EXPECT_EQ(load.code, 0) << load.out << load.err;
  EXPECT_NE(load.out.find("SERVE-LOAD: PASS"), std::string::npos) << load.out << load.err;
}

TEST_F(ServeDocker, DockerPyRunsDetachedWaitsReadsLogsAndExecs) {
  if (run({kPython, "-c", "import docker"}).code != 0) GTEST_SKIP() << "python3-docker is missing (scripts/setup.sh installs it)";
  const std::string script = R"(
import docker
c = docker.from_env()
print(c.containers.run("busybox", ["sh", "-c", "echo hello py"], remove=True).decode(), end="")
k = c.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2; exit 5"], detach=True, name="pyc")
print("wait", k.wait()["StatusCode"])
print("logs", k.logs(stdout=True, stderr=False).decode().strip(), k.logs(stdout=False, stderr=True).decode().strip())
k.reload()
print("attrs", k.attrs["State"]["Status"], k.attrs["State"]["ExitCode"], k.name)
k.remove()
s = c.containers.run("busybox", ["sleep", "600"], detach=True)
r = s.exec_run(["sh", "-c", "echo ex; exit 2"])
print("exec", r.exit_code, r.output.decode().strip())
print("list", [x.short_id == s.short_id for x in c.containers.list()])
s.remove(force=True)
print("left", len(c.containers.list(all=True)))
)";
  Result py = run({kPython, "-c", script}, "", 120, env());
  EXPECT_EQ(py.code, 0) << py.err;
  EXPECT_EQ(py.out, "hello py\nwait 5\nlogs a b\nattrs exited 5 pyc\nexec 2 ex\nlist [True]\nleft 0\n");
}

TEST_F(ServeDocker, SandboxApiThroughThePythonClientExecsWritesReadsTimesOutRefusesAContainersSnapshotAndExpires) {
  // docs/examples/hvrun_sandbox.py, as a program would use it.
  const std::string script = R"(
import sys, time
sys.path.insert(0, sys.argv[2])
from hvrun_sandbox import Client, Error
c = Client(sys.argv[1])
box = c.create("busybox", memory="64m", ttl_seconds=600, name="sbx")
print("made", box.name, box.info["mode"], box.info["status"], box.info["expires_at"] > time.time() + 500)
box.write("/tmp/job.sh", "read x; echo got $x; echo oops >&2; exit 3\n", mode=0o755)
seen = []
r = box.exec(["sh", "/tmp/job.sh"], stdin="word\n", on_output=lambda s, t: seen.append(s))
print("exec", r.exit_code, repr(r.stdout), repr(r.stderr), sorted(set(seen)))
print("read", repr(box.read("/tmp/job.sh").decode()))
t = box.exec(["sleep", "30"], timeout_seconds=1)
print("timeout", t.exit_code, t.timed_out)
for path in ["/etc/nope", "relative"]:
    try:
        box.read(path)
    except Error as e:
        print("read-error", e.status)
print("list", [b.name for b in c.list()])
try:
    c.get("plain")
except Error as e:
    print("plain-is-not-a-sandbox", e.status)
# Snapshots are a microVM's (tests/integration/vm_scenarios.sh: docker-api-vm makes, clones and restores them).
for call in [lambda: box.snapshot(), lambda: box.clone(), lambda: c.restore("nosuch"), lambda: c.remove_snapshot("nosuch")]:
    try:
        call()
    except Error as e:
        print("snapshot-error", e.status)
print("snapshots", c.snapshots())
box.extend(1)
for _ in range(100):
    if not c.list():
        break
    time.sleep(0.1)
print("expired", [b.name for b in c.list()])
)";
  ASSERT_EQ(docker({"run", "-d", "--name", "plain", "busybox", "sleep", "600"}).code, 0);
  Result py = run({kPython, "-c", script, sock_, source_dir() + "/docs/examples"}, "", 120);
  EXPECT_EQ(py.code, 0) << py.err;
  EXPECT_EQ(py.out,
            "made sbx container running True\n"
            "exec 3 'got word\\n' 'oops\\n' ['stderr', 'stdout']\n"
            "read 'read x; echo got $x; echo oops >&2; exit 3\\n'\n"
            "timeout 137 True\n"
            "read-error 404\n"
            "read-error 400\n"
            "list ['sbx']\n"
            "plain-is-not-a-sandbox 404\n"
            "snapshot-error 409\n"
            "snapshot-error 409\n"
            "snapshot-error 404\n"
            "snapshot-error 404\n"
            "snapshots []\n"
            "expired []\n");
  EXPECT_EQ(trim(hv({"ps", "-a", "--format", "{{.Names}}"}).out), "plain") << "the expired sandbox is gone, the rest stays";
}

}  // namespace
}  // namespace hvrun::test
