// inspect (containers or images), --format templates, ps --filter, parse
// errors as one Docker-like line, and one exit-status rule for every
// subcommand (docs/architecture.md, "Exit status").
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::set<std::string> line_set(const std::string& s) {
  auto v = lines_of(s);
  return {v.begin(), v.end()};
}

class CliFormat : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
  // "done": exited 0; "web": running.
  void two_containers() {
    ASSERT_EQ(hv({"run", "--name", "done", "busybox", "true"}).code, 0);
    Result r = hv({"run", "-d", "--name", "web", "busybox", "sleep", "60"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
};

TEST_F(CliFormat, InspectFormatPrintsOneLinePerContainer) {
  two_containers();
  Result r = hv({"inspect", "-f", "{{.Name}} {{.State.Status}} {{.State.ExitCode}}", "done", "web"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "/done exited 0\n/web running 0\n") << "names as Docker's inspect gives them";
  r = hv({"inspect", "--format", "{{json .Config.Cmd}}", "web"});
  EXPECT_EQ(r.out, "[\"sleep\",\"60\"]\n");
}

TEST_F(CliFormat, InspectOfAnImageNameInspectsTheImage) {
  Result r = hv({"inspect", "busybox"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 1) << r.out;
  EXPECT_EQ(j[0]["Id"].get<std::string>().rfind("sha256:", 0), 0u) << r.out;
  EXPECT_TRUE(j[0].contains("RootFS")) << r.out;
}

TEST_F(CliFormat, InspectTypeChoosesBetweenAContainerAndAnImageOfTheSameName) {
  ASSERT_EQ(hv({"run", "--name", "busybox", "busybox", "true"}).code, 0);
  EXPECT_EQ(hv({"inspect", "-f", "{{.Name}}", "busybox"}).out, "/busybox\n") << "a container comes first";
  EXPECT_EQ(hv({"inspect", "-f", "{{.Name}}", "--type", "container", "busybox"}).out, "/busybox\n");
  Result img = hv({"inspect", "-f", "{{.Id}}", "--type", "image", "busybox"});
  EXPECT_EQ(img.code, 0) << img.err;
  EXPECT_EQ(img.out.rfind("sha256:", 0), 0u) << img.out;
  Result none = hv({"inspect", "--type", "container", "nosuch"});
  EXPECT_EQ(none.code, 125);
  EXPECT_EQ(none.err, "hvrun: no such container: nosuch\n");
  Result bad = hv({"inspect", "--type", "volume", "busybox"});
  EXPECT_EQ(bad.code, 125);
}

TEST_F(CliFormat, InspectOfANameThatIsNeitherSaysNoSuchObjectWith125) {
  Result r = hv({"inspect", "nosuch"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(r.err, "hvrun: no such object: nosuch\n");
}

TEST_F(CliFormat, ImageInspectFormat) {
  Result r = hv({"image", "inspect", "-f", "{{json .RepoTags}} {{.RootFS.Type}}", "busybox"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("busybox"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("] layers\n"), std::string::npos) << r.out;
}

TEST_F(CliFormat, PsFormatPrintsTheChosenFieldsPerContainer) {
  two_containers();
  Result r = hv({"ps", "-a", "--format", "{{.Names}} {{.State}} {{.Image}}"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(line_set(r.out), (std::set<std::string>{"done exited busybox", "web running busybox"}));
  r = hv({"ps", "--format", "{{.Names}}"});
  EXPECT_EQ(r.out, "web\n") << "without -a, running only";
}

TEST_F(CliFormat, PsFormatTableHasAHeaderRowAndAlignedColumns) {
  two_containers();
  Result r = hv({"ps", "-a", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.Status}}"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto l = lines_of(r.out);
  ASSERT_EQ(l.size(), 3u) << r.out;
  EXPECT_EQ(l[0].rfind("CONTAINER ID   NAMES", 0), 0u) << l[0];
  size_t status_col = l[0].find("STATUS");
  for (size_t i = 1; i < l.size(); ++i) {
    EXPECT_EQ(l[i].find('\t'), std::string::npos);
    ASSERT_GT(l[i].size(), status_col) << l[i];
    EXPECT_TRUE(l[i].compare(status_col, 2, "Up") == 0 || l[i].compare(status_col, 6, "Exited") == 0) << l[i];
  }
}

TEST_F(CliFormat, ImagesFormatAndTable) {
  Result r = hv({"images", "--format", "{{.Repository}}\\t{{.Size}}"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto l = lines_of(r.out);
  ASSERT_EQ(l.size(), 1u) << r.out;
  EXPECT_NE(l[0].find("busybox\t"), std::string::npos) << l[0];
  r = hv({"image", "ls", "--format", "table {{.Repository}}\\t{{.ID}}"});
  l = lines_of(r.out);
  ASSERT_EQ(l.size(), 2u) << r.out;
  EXPECT_EQ(l[0].find("REPOSITORY"), 0u);
  EXPECT_NE(l[0].find("IMAGE ID"), std::string::npos);
}

TEST_F(CliFormat, BadTemplatesAreOneLineErrorsWith125) {
  for (auto args : std::vector<std::vector<std::string>>{{"ps", "--format", "{{.Bogus}}"},
                                                         {"images", "--format", "{{.Names}}"},
                                                         {"inspect", "-f", "{{.Name", "busybox"},
                                                         {"image", "inspect", "-f", "{{nosuch .Id}}", "busybox"}}) {
    Result r = hv(args);
    EXPECT_EQ(r.code, 125) << args[0];
    EXPECT_EQ(r.out, "") << args[0];
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find("invalid --format template"), std::string::npos) << r.err;
  }
}

TEST_F(CliFormat, PsFilterByNameIdStatusAndAncestor) {
  two_containers();
  auto names = [this](std::vector<std::string> args) {
    args.insert(args.begin(), {"ps", "--format", "{{.Names}}"});
    Result r = hv(args);
    EXPECT_EQ(r.code, 0) << r.err;
    return line_set(r.out);
  };
  using S = std::set<std::string>;
  EXPECT_EQ(names({"-a", "--filter", "name=we"}), S{"web"});
  EXPECT_EQ(names({"-a", "-f", "name=web", "-f", "name=done"}), (S{"web", "done"})) << "one key: any value";
  EXPECT_EQ(names({"-f", "status=exited"}), S{"done"}) << "a status filter needs no -a";
  EXPECT_EQ(names({"-f", "status=created"}), S{});
  std::string id = trim(hv({"inspect", "-f", "{{.Id}}", "done"}).out);
  EXPECT_EQ(names({"-a", "-f", "id=" + id.substr(0, 5)}), S{"done"});
  EXPECT_EQ(names({"-a", "-f", "ancestor=busybox"}), (S{"web", "done"}));
  EXPECT_EQ(names({"-a", "-f", "ancestor=other"}), S{});
  EXPECT_EQ(names({"-a", "-f", "ancestor=busybox", "-f", "name=web"}), S{"web"}) << "keys all apply";
}

TEST_F(CliFormat, PsFilterWithAnUnknownKeyOrBadValueIsOneLineAnd125) {
  for (const std::string f : {"volume=x", "bogus", "status=sleeping"}) {
    Result r = hv({"ps", "--filter", f});
    EXPECT_EQ(r.code, 125) << f;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find("invalid filter \"" + f + "\""), std::string::npos) << r.err;
  }
}

TEST(CliParseErrors, AnUnknownFlagIsOneDockerLikeLineNamingTheCommand) {
  TempDir t;
  Result r = hvrun::test::hvrun(t.path(), {"ps", "--bogus"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(r.err, "hvrun: ps: unknown flag: --bogus\nSee 'hvrun ps --help'.\n");
  r = hvrun::test::hvrun(t.path(), {"image", "inspect", "--nope", "x"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(r.err, "hvrun: image inspect: unknown flag: --nope\nSee 'hvrun image inspect --help'.\n");
  r = hvrun::test::hvrun(t.path(), {"stop"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(r.err.rfind("hvrun: stop: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find("not expected"), std::string::npos) << r.err;
}

// docs/architecture.md, "Exit status": one bad input per subcommand.
TEST_F(CliFormat, ExitStatusFollowsOneRuleInEverySubcommand) {
  struct Case {
    std::vector<std::string> args;
    int status;
  };
  const std::vector<Case> cases = {
      {{"run", "nosuch-image", "true"}, 125},
      {{"run", "busybox", "/no/such/command"}, 127},
      {{"run", "busybox", "/etc"}, 126},
      {{"run", "busybox", "sh", "-c", "exit 3"}, 3},
      {{"exec", "nosuch", "true"}, 125},
      {{"ps", "--filter", "bogus=1"}, 125},
      {{"images", "--bogus"}, 125},
      {{"image", "import", "/no/such/path"}, 125},
      {{"image", "inspect", "nosuch"}, 125},
      {{"image", "rm", "nosuch"}, 125},
      {{"tag", "nosuch", "other"}, 125},
      {{"logs", "nosuch"}, 125},
      {{"stop", "nosuch"}, 125},
      {{"kill", "nosuch"}, 125},
      {{"rm", "nosuch"}, 125},
      {{"inspect", "nosuch"}, 125},
      {{"diff", "nosuch"}, 125},
      {{"commit", "nosuch"}, 125},
      {{"history", "nosuch"}, 125},
      {{"export", "nosuch", "-o", "/dev/null"}, 125},
      {{"network", "inspect", "nosuch"}, 125},
      {{"network", "rm", "nosuch"}, 125},
      {{"network", "create", "--subnet", "not-a-cidr", "n1"}, 125},
      {{"compare", "--bogus"}, 125},
      {{"check", "--bogus"}, 125},
      {{"version", "--bogus"}, 125},
      {{"completion", "nosuchshell"}, 125},
  };
  for (const auto& c : cases) {
    Result r = hv(c.args);
    std::string cmd;
    for (const auto& a : c.args) cmd += a + " ";
    EXPECT_EQ(r.code, c.status) << cmd << "\n" << r.err;
    if (c.status == 125) {
      EXPECT_EQ(r.err.rfind("hvrun", 0), 0u) << cmd << ": " << r.err;
    }
  }
  // Several names, one missing: the others are handled, the status is 125.
  ASSERT_EQ(hv({"run", "--name", "gone", "busybox", "true"}).code, 0);
  Result r = hv({"rm", "nosuch", "gone"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(r.out, "gone\n");
}

}  // namespace
}  // namespace hvrun::test
