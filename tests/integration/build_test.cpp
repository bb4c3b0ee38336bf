// hvrun build: the step cache, failures and bad input, as a user meets them.
// (The trees and configs against podman build: tests/build/compare.py.)
#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

using namespace hvrun::test;
using json = nlohmann::json;

namespace {

void write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++n;
  return n;
}

class Build : public StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    ctx_ = std::make_unique<TempDir>();
  }
  std::string ctx() const { return ctx_->path(); }
  Result build(std::vector<std::string> args) {
    std::vector<std::string> a{"build", "--network", "none", "--progress", "plain"};
    a.insert(a.end(), args.begin(), args.end());
    a.push_back(ctx());
    return hv(a, "", 300);
  }
  // Image ids the store lists with -a (intermediate images too).
  size_t image_count() { return count(hv({"images", "-a", "-q"}).out, "\n"); }
  std::unique_ptr<TempDir> ctx_;
};

const char* kCachedFile =
    "FROM busybox\n"
    "RUN echo one > /one\n"
    "COPY a.txt /a.txt\n"
    "RUN cat /a.txt > /copy-of-a\n"
    "COPY b.txt /b.txt\n"
    "CMD [\"cat\", \"/copy-of-a\"]\n";

TEST_F(Build, RebuildWithNothingChangedIsCachedEveryStepAndGivesTheSameImage) {
  HVRUN_REQUIRE_ROOT();
  write(ctx() + "/Dockerfile", kCachedFile);
  write(ctx() + "/a.txt", "a1\n");
  write(ctx() + "/b.txt", "b1\n");
  Result first = build({"-t", "app:1"});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(count(first.err, "CACHED"), 0u) << first.err;
  const std::string id = trim(first.out);
  EXPECT_EQ(id.size(), 64u) << first.out;
  Result second = build({"-t", "app:1"});
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(count(second.err, "CACHED"), 5u) << "every step after FROM:\n" << second.err;
  EXPECT_EQ(trim(second.out), id) << "the same image, not a new one";
  Result r = hv({"run", "--rm", "--network", "none", "app:1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "a1\n");
}

TEST_F(Build, ChangingOneFileRerunsOnlyTheStepsFromItsCopyOn) {
  HVRUN_REQUIRE_ROOT();
  write(ctx() + "/Dockerfile", kCachedFile);
  write(ctx() + "/a.txt", "a1\n");
  write(ctx() + "/b.txt", "b1\n");
  ASSERT_EQ(build({"-t", "app:1"}).code, 0);
  // A touch alone (mtime) changes nothing the cache looks at.
  ::utimensat(AT_FDCWD, (ctx() + "/a.txt").c_str(), nullptr, 0);
  Result touched = build({"-t", "app:1"});
  ASSERT_EQ(touched.code, 0) << touched.err;
  EXPECT_EQ(count(touched.err, "CACHED"), 5u) << touched.err;
  write(ctx() + "/a.txt", "a2\n");
  Result changed = build({"-t", "app:1"});
  ASSERT_EQ(changed.code, 0) << changed.err;
  // RUN echo one stays cached; COPY a.txt and everything after it reruns.
  EXPECT_EQ(count(changed.err, "CACHED"), 1u) << changed.err;
  EXPECT_TRUE(std::regex_search(changed.err, std::regex("RUN echo one > /one\\n#[0-9]+ CACHED"))) << changed.err;
  Result r = hv({"run", "--rm", "--network", "none", "app:1"});
  EXPECT_EQ(r.out, "a2\n") << r.err;
}

TEST_F(Build, NoCacheRunsEveryStepAgain) {
  HVRUN_REQUIRE_ROOT();
  write(ctx() + "/Dockerfile", "FROM busybox\nRUN date +%N > /stamp\n");
  ASSERT_EQ(build({"-t", "s:1"}).code, 0);
  Result again = build({"--no-cache", "-t", "s:1"});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(count(again.err, "CACHED"), 0u) << again.err;
}

TEST_F(Build, AFailingRunNamesFileLineAndStatusTagsNothingAndLeavesNoContainer) {
  HVRUN_REQUIRE_ROOT();
  write(ctx() + "/Containerfile", "FROM busybox\nRUN echo before\nRUN echo out; exit 3\nRUN echo after\n");
  const size_t before = image_count();
  Result r = build({"-t", "broken:1"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("Containerfile:3: RUN echo out; exit 3: exited with status 3"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("out\n"), std::string::npos) << "the step's output is streamed: " << r.out;
  EXPECT_EQ(r.out.find("after"), std::string::npos);
  EXPECT_NE(hv({"image", "inspect", "broken:1"}).code, 0) << "nothing tagged";
  EXPECT_EQ(trim(hv({"ps", "-a", "-q"}).out), "") << "the failed step's container is removed";
  // Only the completed step before it (RUN echo before) stays, as a cached image.
  EXPECT_EQ(image_count(), before + 1);
  EXPECT_EQ(trim(hv({"images", "-q"}).out).find('\n'), std::string::npos)
      << "intermediate images are hidden from images without -a:\n" << hv({"images"}).out;
}

TEST_F(Build, BadInputIsOneLineWithFileAndLineAndTagsNothing) {
  HVRUN_REQUIRE_ROOT();
  write(ctx() + "/inside.txt", "x\n");
  std::filesystem::create_symlink("/etc/passwd", ctx() + "/to-host");
  struct Case {
    std::string file, want;
  };
  std::vector<Case> cases = {
      {"FROM busybox\nFROBNICATE x\n", "Dockerfile:2: unknown instruction: FROBNICATE"},
      {"FROM busybox\nCOPY missing.txt /x\n", "Dockerfile:2: COPY failed: source missing.txt: not found"},
      {"FROM busybox\nCOPY ../outside /x\n", "Dockerfile:2: COPY failed: source ../outside: forbidden path outside"},
      {"FROM busybox\nCOPY /etc/passwd /x\n", "Dockerfile:2: COPY failed: source /etc/passwd: an absolute path"},
      {"FROM busybox\nCOPY to-host /x\n", "Dockerfile:2: COPY failed: source to-host: it leads outside the build context"},
      {"FROM busybox\nADD http://127.0.0.1:9/x /x\n", "Dockerfile:2: ADD http://127.0.0.1:9/x: URLs are not fetched"},
      {"FROM busybox\nCOPY inside.txt *.nothing /d\n", "Dockerfile:2: COPY failed: source *.nothing: no file matches"},
      {"FROM busybox\nCOPY inside.txt inside.txt /d\n",
       "Dockerfile:2: when COPY has more than one source file, the destination must be a directory and end with a /"},
      {"FROM --platform=linux/arm64 busybox\n", "Dockerfile:1: FROM --platform=linux/arm64: only linux/amd64"},
      {"RUN true\n", "Dockerfile:1: "},
      {"FROM busybox\nUSER\n", "Dockerfile:2: "},
      {"FROM busybox\nRUN --mount=type=cache,target=/x true\n", "Dockerfile:2: "},
      {"FROM busybox\nENV A=\"unterminated\n", "Dockerfile:2: "},
      {"FROM busybox\nSTOPSIGNAL SIGNOPE\n", "Dockerfile:2: STOPSIGNAL SIGNOPE"},
  };
  for (const auto& c : cases) {
    write(ctx() + "/Dockerfile", c.file);
    Result r = build({"-t", "bad:1"});
    EXPECT_EQ(r.code, 125) << c.file;
    EXPECT_NE(r.err.find("hvrun: " + c.want), std::string::npos) << c.file << "\n" << r.err;
    EXPECT_EQ(count(r.err, "hvrun: "), 1u) << "one line: " << r.err;
    EXPECT_NE(hv({"image", "inspect", "bad:1"}).code, 0) << c.file;
  }
  // A base image that is in neither the store nor a registry (nothing listens on 127.0.0.1:9).
  write(ctx() + "/Dockerfile", "FROM 127.0.0.1:9/none:1\nRUN true\n");
  Result r = build({"-t", "bad:1"});
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("hvrun: Dockerfile:1: image 127.0.0.1:9/none:1 is not in the store, and pulling it failed"),
            std::string::npos)
      << r.err;
  // No Dockerfile at all.
  std::filesystem::remove(ctx() + "/Dockerfile");
  r = build({});
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("no Dockerfile or Containerfile"), std::string::npos) << r.err;
}

TEST_F(Build, BuildArgsTargetAndTheHistoryDockerWrites) {
  HVRUN_REQUIRE_ROOT();
  write(ctx() + "/Dockerfile",
        "ARG WHO=world\n"
        "FROM busybox AS first\n"
        "ARG WHO\n"
        "RUN echo \"hello $WHO\" > /greeting\n"
        "ENV MODE=${WHO}-mode\n"
        "FROM busybox\n"
        "COPY --from=first /greeting /g\n");
  Result r = build({"--build-arg", "WHO=you", "--build-arg", "UNUSED=1", "--target", "first", "-t", "first:1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("[Warning] one or more build args were not consumed: [UNUSED]"), std::string::npos) << r.err;
  Result g = hv({"run", "--rm", "--network", "none", "first:1", "sh", "-c", "cat /greeting; echo $MODE; echo ${WHO:-unset}"});
  EXPECT_EQ(g.out, "hello you\nyou-mode\nunset\n") << g.err << "\n(build args are not in the image's environment)";
  Result h = hv({"history", "--no-trunc", "first:1"});
  EXPECT_NE(h.out.find("ENV MODE=you-mode"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("RUN /bin/sh -c echo \"hello $WHO\" > /greeting # buildkit"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("buildkit.dockerfile.v0"), std::string::npos) << h.out;
  json j = json::parse(hv({"image", "inspect", "first:1"}).out)[0];
  EXPECT_EQ(j["Parent"].get<std::string>().size(), 71u) << "sha256: + the step before";
}

TEST_F(Build, SeventyLayersStackForCopyRunAndTheFinalImage) {
  HVRUN_REQUIRE_ROOT();
  // Layer paths alone would overflow overlay's one page of mount options
  // long before Docker's limit of 127 layers.
  std::string file = "FROM busybox\n";
  for (int i = 0; i < 70; ++i) {
    write(ctx() + "/f" + std::to_string(i), std::to_string(i) + "\n");
    file += "COPY f" + std::to_string(i) + " /layers/\n";
  }
  file += "RUN ls /layers | wc -l > /count\n";
  write(ctx() + "/Dockerfile", file);
  Result r = build({"-t", "tall:1"});
  ASSERT_EQ(r.code, 0) << r.err;
  Result c = hv({"run", "--rm", "--network", "none", "tall:1", "cat", "/count", "/layers/f69"});
  EXPECT_EQ(c.out, "70\n69\n") << c.err;
  json j = json::parse(hv({"image", "inspect", "tall:1"}).out)[0];
  EXPECT_EQ(j["RootFS"]["Layers"].size(), 72u) << "busybox, 70 COPY, RUN";
}

TEST_F(Build, QuietPrintsOnlyTheImageId) {
  HVRUN_REQUIRE_ROOT();
  write(ctx() + "/Dockerfile", "FROM busybox\nRUN echo noisy\nLABEL a=b\n");
  Result r = hv({"build", "-q", "--network", "none", "-t", "q:1", ctx()}, "", 300);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::regex_match(r.out, std::regex("sha256:[0-9a-f]{64}\n"))) << r.out;
  EXPECT_EQ(r.err, "");
}

}  // namespace
