// hvrun serve and the docker CLI: images (docker build through POST /build,
// save, load, tag, rmi, pull and push through a registry the test starts).
#include <algorithm>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "test_registry.hpp"

#include "serve_docker.hpp"

namespace hvrun::test {
namespace {

TEST_F(ServeDocker, DockerBuildSendsItsContextAndTheImageRunsWithItsHistory) {
  const std::string ctx = root() + "/ctx";
  ASSERT_EQ(run({"mkdir", "-p", ctx + "/sub"}).code, 0);
  {
    std::ofstream(ctx + "/Dockerfile") << "FROM busybox\nARG GREETING=hi\nCOPY msg.txt /msg.txt\n"
                                         "RUN echo \"$GREETING $(cat /msg.txt)\" > /out.txt\nCMD [\"cat\", \"/out.txt\"]\n";
    std::ofstream(ctx + "/msg.txt") << "from-the-context\n";
    std::ofstream(ctx + "/sub/Other.Dockerfile") << "FROM busybox\nRUN exit 7\n";
  }
  Result b = docker({"build", "-t", "built:1", "--build-arg", "GREETING=hello", ctx}, 300);
  ASSERT_EQ(b.code, 0) << b.out << b.err;
  EXPECT_NE(b.out.find("Successfully built "), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("Successfully tagged built:1\n"), std::string::npos) << b.out;
  EXPECT_EQ(docker({"run", "--rm", "built:1"}).out, "hello from-the-context\n");
  EXPECT_EQ(hv({"images", "--format", "{{.Repository}}:{{.Tag}}", "built"}).out, "built:1\n");
  // Its history through the API, as hvrun history has it (the COPY and RUN steps among them).
  EXPECT_EQ(docker({"history", "-q", "built:1"}).out, hv({"history", "-q", "built:1"}).out);
  Result h = docker({"history", "--no-trunc", "--format", "{{.CreatedBy}}", "built:1"});
  EXPECT_NE(h.out.find("COPY"), std::string::npos) << h.out;
  // -q prints the id alone; a failing step fails the build with its reason.
  Result q = docker({"build", "-q", "-t", "built:2", ctx}, 300);
  EXPECT_EQ(q.code, 0) << q.err;
  EXPECT_EQ(trim(q.out).rfind("sha256:", 0), 0u) << q.out;
  Result f = docker({"build", "-f", ctx + "/sub/Other.Dockerfile", ctx}, 300);
  EXPECT_NE(f.code, 0);
  EXPECT_NE((f.out + f.err).find("7"), std::string::npos) << f.out << f.err;
  EXPECT_EQ(hv({"ps", "-aq"}).out, "") << "no build container is left";
  // A context whose Dockerfile is a symlink out of it (the host's /etc/passwd): refused, nothing read.
  const std::string evil = root() + "/evil";
  ASSERT_EQ(run({"mkdir", "-p", evil}).code, 0);
  ASSERT_EQ(run({"ln", "-s", "/etc/passwd", evil + "/Dockerfile"}).code, 0);
  ASSERT_EQ(run({"tar", "-C", evil, "-cf", root() + "/evil.tar", "Dockerfile"}).code, 0);
  const std::string refused = api("POST", "/build?t=evil", "@" + root() + "/evil.tar");
  EXPECT_EQ(refused.rfind("400 ", 0), 0u) << refused;
  EXPECT_NE(refused.find("leads out of the context"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("root:"), std::string::npos) << refused;
}

TEST_F(ServeDocker, ImagesSaveLoadTagRmiPullAndPushThroughARegistry) {
  const std::string tar = root() + "/bb.tar";
  Result save = docker({"save", "-o", tar, "busybox"});
  ASSERT_EQ(save.code, 0) << save.err;
  EXPECT_EQ(docker({"tag", "busybox", "mybb:v1"}).code, 0);
  const std::string ifmt = "{{.Repository}}:{{.Tag}} {{.ID}}";
  // (one image's tags come in any order from the docker CLI: it walks a Go map)
  auto sorted_lines = [](const std::string& text) {
    std::vector<std::string> v;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted_lines(docker({"images", "--format", ifmt}).out), sorted_lines(hv({"images", "--format", ifmt}).out));
  Result rmi = docker({"rmi", "mybb:v1", "busybox"});
  EXPECT_EQ(rmi.code, 0) << rmi.err;
  EXPECT_EQ(rmi.out.rfind("Untagged: mybb:v1\nUntagged: busybox:latest\nDeleted: sha256:", 0), 0u) << rmi.out;
  EXPECT_EQ(hv({"images", "-q"}).out, "");
  Result load = docker({"load", "-i", tar});
  EXPECT_EQ(load.code, 0) << load.err;
  EXPECT_EQ(load.out, "Loaded image: busybox:latest\n");
  EXPECT_EQ(docker({"run", "--rm", "busybox", "echo", "loaded"}).out, "loaded\n");
  // docker pull (and run's pull of a missing image) through hvrun pull,
  // from Debian's docker-registry on 127.0.0.1.
  TestRegistry reg;
  const std::string ref = reg.host() + "/lib/bb:1";
  ASSERT_EQ(hv({"push", "busybox", ref}, "", 120).code, 0);
  Result pull = docker({"pull", ref});
  EXPECT_EQ(pull.code, 0) << pull.err;
  EXPECT_EQ(docker({"images", "--format", "{{.Repository}}:{{.Tag}}", ref}).out, ref + "\n");
  ASSERT_EQ(docker({"rmi", ref}).code, 0);
  Result run_pulls = docker({"run", "--rm", ref, "echo", "pulled"});
  EXPECT_EQ(run_pulls.code, 0) << run_pulls.err;
  EXPECT_EQ(run_pulls.out, "pulled\n");
  Result bad = docker({"pull", reg.host() + "/no/such:image"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("no/such"), std::string::npos) << bad.err;
  // docker push through hvrun push: what comes back from the registry is
  // the same image.
  const std::string ref2 = reg.host() + "/lib/bb:2";
  ASSERT_EQ(docker({"tag", "busybox", ref2}).code, 0);
  Result push = docker({"push", ref2});
  EXPECT_EQ(push.code, 0) << push.err;
  EXPECT_NE(push.out.find("2: digest: sha256:"), std::string::npos) << push.out;
  const std::string id = trim(hv({"inspect", "-f", "{{.Id}}", "busybox"}).out);
  ASSERT_EQ(id.rfind("sha256:", 0), 0u) << id;
  ASSERT_EQ(docker({"rmi", ref2}).code, 0);
  ASSERT_EQ(docker({"pull", ref2}).code, 0);
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.Id}}", ref2}).out), id);
  Result missing = docker({"push", reg.host() + "/lib/none:1"});
  EXPECT_NE(missing.code, 0);
}

}  // namespace
}  // namespace hvrun::test
