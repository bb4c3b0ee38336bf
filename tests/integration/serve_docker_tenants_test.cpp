// hvrun serve's tenants (SO_PEERCRED): what one may see and touch, its
// quotas, and its volumes, through the docker CLI run as another uid.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "serve_docker.hpp"

namespace hvrun::test {
namespace {

TEST_F(ServeDocker, ATenantsExitedContainerStartedAgainIsHeldToItsMemoryQuota) {
  const std::string gid = hvrun_gid();
  if (gid.empty()) GTEST_SKIP() << "no group hvrun (scripts/setup.sh makes it)";
  ASSERT_EQ(::chmod(root().c_str(), 0711), 0);
  stop_server();
  start_server({"--tenant-memory", "100m"});
  auto as = [&](const std::vector<std::string>& args) { return as_tenant(sock_, gid, "65534", args); };
  Result a = as({"run", "-d", "-m", "80m", "--name", "q1", "busybox", "sleep", "600"});
  ASSERT_EQ(a.code, 0) << a.err;
  Result over = as({"run", "-d", "-m", "80m", "--name", "q2", "busybox", "sleep", "600"});
  EXPECT_NE(over.code, 0);
  EXPECT_NE(over.err.find("tenant quota"), std::string::npos) << over.err;
  ASSERT_EQ(as({"stop", "-t", "0", "q1"}).code, 0);
  ASSERT_EQ(as({"run", "-d", "-m", "80m", "--name", "q3", "busybox", "sleep", "600"}).code, 0);
  for (const char* cmd : {"start", "restart"}) {
    Result again = as({cmd, "q1"});
    EXPECT_NE(again.code, 0) << cmd;
    EXPECT_NE(again.err.find("tenant quota: 160 MiB of memory asked, 100 MiB allowed"), std::string::npos) << cmd << ": " << again.err;
  }
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.State.Status}}", "q1"}).out), "exited");
  ASSERT_EQ(as({"rm", "-f", "q3"}).code, 0);
  EXPECT_EQ(as({"start", "q1"}).code, 0) << "within the quota again";
}

TEST_F(ServeDocker, ATenantSeesAndTouchesOnlyItsOwnContainersAndNotTheHost) {
  const std::string gid = hvrun_gid();
  if (gid.empty()) GTEST_SKIP() << "no group hvrun (scripts/setup.sh makes it)";
  // The socket's directory must be reachable by the tenants (the store's
  // own directory is 0700).
  ASSERT_EQ(::chmod(root().c_str(), 0711), 0);
  stop_server();
  start_server({"--tenant-containers", "2"});
  // Tenants: uids 65534 and 65533.
  auto as = [&](const std::string& uid, const std::vector<std::string>& args) { return as_tenant(sock_, gid, uid, args); };
  Result a = as("65534", {"run", "-d", "--name", "a1", "busybox", "sh", "-c", "echo secret; sleep 600"});
  ASSERT_EQ(a.code, 0) << a.err;
  const std::string id = trim(a.out);
  EXPECT_EQ(as("65534", {"ps", "--format", "{{.Names}}"}).out, "a1\n");
  EXPECT_EQ(as("65533", {"ps", "-a", "--format", "{{.Names}}"}).out, "");
  for (const std::string& ref : {std::string("a1"), id, id.substr(0, 12)}) {
    for (const std::vector<std::string>& cmd :
         std::vector<std::vector<std::string>>{{"container", "inspect", ref}, {"logs", ref}, {"exec", ref, "true"},
                                               {"stop", ref}, {"kill", ref}, {"rm", ref}}) {
      Result r = as("65533", cmd);
      EXPECT_NE(r.code, 0) << cmd[0] << " " << ref;
      EXPECT_NE(r.err.find("No such container"), std::string::npos) << cmd[0] << " " << ref << ": " << r.err;
      EXPECT_EQ(r.out.find("secret"), std::string::npos);
    }
    // (docker rm -f says nothing of a container it does not find.)
    EXPECT_EQ(as("65533", {"rm", "-f", ref}).out.find("a1"), std::string::npos);
  }
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.State.Status}}", "a1"}).out), "running") << "another tenant stopped it";
  EXPECT_EQ(as("65534", {"logs", "a1"}).out, "secret\n");
  // Networks: another's container is absent; only the default network is a tenant's.
  ASSERT_EQ(docker({"network", "create", "rootnet"}).code, 0);
  Result other = as("65533", {"network", "connect", "rootnet", "a1"});
  EXPECT_NE(other.err.find("No such container"), std::string::npos) << other.err;
  Result own = as("65534", {"network", "connect", "rootnet", "a1"});
  EXPECT_NE(own.code, 0);
  EXPECT_NE(own.err.find("a tenant may connect its containers to the default network only"), std::string::npos) << own.err;
  EXPECT_EQ(docker({"network", "rm", "rootnet"}).code, 0);
  // Root sees every tenant's.
  EXPECT_EQ(docker({"ps", "--format", "{{.Names}}"}).out, "a1\n");
  // Nothing that reaches into the host.
  for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{
           {"-v", "/:/host"}, {"--privileged"}, {"--cap-add", "SYS_ADMIN"}, {"--security-opt", "seccomp=unconfined"},
           {"--network", "host"}, {"--network", "othernet"}, {"-p", "80:80"}, {"--ulimit", "rtprio=99"},
           {"--tmpfs", "/t:dev"}, {"--pid", "host"}, {"--ipc", "host"}}) {
    std::vector<std::string> cmd{"run", "--rm"};
    cmd.insert(cmd.end(), flags.begin(), flags.end());
    cmd.insert(cmd.end(), {"busybox", "true"});
    Result r = as("65533", cmd);
    EXPECT_EQ(r.code, 125) << flags[0];
    EXPECT_NE(r.err.find("a tenant may not"), std::string::npos) << flags[0] << ": " << r.err;
  }
  // No device node of its own (it would be the host's disk), no pull with
  // root's logins into the shared store.
  Result mknod = as("65533", {"run", "--rm", "busybox", "sh", "-c", "mknod /tmp/x b 8 0 && echo made || echo refused"});
  EXPECT_EQ(mknod.out, "refused\n") << mknod.err;
  Result pull = as("65533", {"pull", "127.0.0.1:1/x"});
  EXPECT_NE(pull.code, 0);
  EXPECT_NE(pull.err.find("a tenant may not pull"), std::string::npos) << pull.err;
  // Its quota: two containers.
  EXPECT_EQ(as("65534", {"create", "busybox", "true"}).code, 0);
  Result over = as("65534", {"create", "busybox", "true"});
  EXPECT_NE(over.code, 0);
  EXPECT_NE(over.err.find("tenant quota: at most 2 containers"), std::string::npos) << over.err;
  EXPECT_EQ(as("65534", {"rm", "-f", "a1"}).code, 0);
}

TEST_F(ServeDocker, DockerVolumeCommandsAndMountsAgreeWithHvrunAndStayATenantsOwn) {
  ASSERT_EQ(docker({"volume", "create", "--label", "k=v", "shared"}).out, "shared\n");
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "shared\n");
  ASSERT_EQ(docker({"run", "--rm", "-v", "shared:/data", "busybox", "sh", "-c", "echo via-docker > /data/f"}).code, 0);
  EXPECT_EQ(hv({"run", "--rm", "-v", "shared:/d", "busybox", "cat", "/d/f"}).out, "via-docker\n");
  Result m = docker({"run", "--rm", "--mount", "type=volume,src=shared,dst=/m,readonly", "--mount",
                     "type=tmpfs,dst=/t,tmpfs-size=1048576", "busybox", "sh", "-c",
                     "cat /m/f; touch /m/x 2>/dev/null || echo ro; grep -c ' /t tmpfs' /proc/mounts"});
  EXPECT_EQ(m.out, "via-docker\nro\n1\n") << m.err;
  EXPECT_EQ(docker({"volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels}}", "shared"}).out, "shared local map[k:v]\n");
  EXPECT_EQ(docker({"volume", "ls", "--format", "{{.Name}}"}).out, hv({"volume", "ls", "-q"}).out);
  ASSERT_EQ(docker({"create", "--name", "user", "-v", "shared:/x", "busybox", "true"}).code, 0);
  Result busy = docker({"volume", "rm", "shared"});
  EXPECT_NE(busy.code, 0);
  EXPECT_NE(busy.err.find("volume shared is in use by container"), std::string::npos) << busy.err;
  ASSERT_EQ(docker({"rm", "user"}).code, 0);
  ASSERT_EQ(docker({"volume", "create", "spare"}).code, 0);
  Result prune = docker({"volume", "prune", "-f"});
  EXPECT_NE(prune.out.find("shared"), std::string::npos) << prune.out << prune.err;
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "");
  // docker run -v /path (Config.Volumes): an anonymous volume, gone with --rm or rm -v.
  EXPECT_EQ(docker({"run", "--rm", "-v", "/data", "busybox", "sh", "-c", "echo a > /data/f; cat /data/f"}).out, "a\n");
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "");
  ASSERT_EQ(docker({"run", "-d", "--name", "anon", "-v", "/data", "busybox", "sleep", "600"}).code, 0);
  EXPECT_EQ(docker({"inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}", "anon"}).out, "volume /data\n");
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out.size(), 65u);
  ASSERT_EQ(docker({"rm", "-fv", "anon"}).code, 0);
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "");
  // A tenant's volumes are its own: another neither lists, uses nor removes them.
  const std::string gid = hvrun_gid();
  if (gid.empty()) GTEST_SKIP() << "no group hvrun (scripts/setup.sh makes it)";
  ASSERT_EQ(::chmod(root().c_str(), 0711), 0);
  auto as = [&](const std::string& uid, const std::vector<std::string>& args) { return as_tenant(sock_, gid, uid, args); };
  ASSERT_EQ(as("65534", {"volume", "create", "mine"}).code, 0);
  ASSERT_EQ(as("65534", {"run", "--rm", "-v", "mine:/v", "busybox", "sh", "-c", "echo private > /v/p"}).code, 0);
  EXPECT_EQ(as("65533", {"volume", "ls", "-q"}).out, "");
  Result steal = as("65533", {"run", "--rm", "-v", "mine:/v", "busybox", "cat", "/v/p"});
  EXPECT_NE(steal.code, 0);
  EXPECT_EQ(steal.out.find("private"), std::string::npos);
  EXPECT_NE(steal.err.find("belongs to another user"), std::string::npos) << steal.err;
  EXPECT_NE(as("65533", {"volume", "rm", "mine"}).err.find("No such volume"), std::string::npos);
  Result bind = as("65533", {"run", "--rm", "--mount", "type=bind,src=/etc,dst=/e", "busybox", "true"});
  EXPECT_NE(bind.err.find("a tenant may not bind host paths"), std::string::npos) << bind.err;
  Result binds = as("65533", {"run", "--rm", "-v", "/etc:/e", "busybox", "true"});
  EXPECT_NE(binds.err.find("a tenant may not bind host paths"), std::string::npos) << binds.err;
  EXPECT_EQ(as("65533", {"run", "--rm", "-v", "/scratch", "busybox", "true"}).code, 0) << "an anonymous volume is a tenant's own";
  EXPECT_EQ(as("65534", {"volume", "ls", "-q"}).out, "mine\n");
  EXPECT_EQ(docker({"volume", "ls", "-q"}).out, "mine\n") << "root sees every tenant's";
}

}  // namespace
}  // namespace hvrun::test
