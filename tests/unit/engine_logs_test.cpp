#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/logs.hpp"
#include "util/fs.hpp"

using namespace hvrun::engine;

namespace {
std::vector<nlohmann::json> lines_of(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::string text = hvrun::read_file(path);
  size_t pos = 0;
  for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1)
    out.push_back(nlohmann::json::parse(text.substr(pos, nl - pos)));
  EXPECT_EQ(pos, text.size()) << "log ends with a partial line";
  return out;
}
std::string temp_path(const std::string& name) {
  std::string p = testing::TempDir() + "/" + name + std::to_string(::getpid());
  ::unlink(p.c_str());
  return p;
}
std::string read_all(int fd) {
  std::string s;
  char b[4096];
  ssize_t n;
  ::lseek(fd, 0, SEEK_SET);
  while ((n = ::read(fd, b, sizeof b)) > 0) s.append(b, static_cast<size_t>(n));
  return s;
}
}  // namespace

TEST(EngineLogs, FormatIsDockerJsonFile) {
  std::string l = format_log_line("hi \"x\"\t\\\n", Stream::Stderr, "2026-01-01T00:00:00.000000001Z");
  EXPECT_EQ(l, "{\"log\":\"hi \\\"x\\\"\\t\\\\\\n\",\"stream\":\"stderr\",\"time\":\"2026-01-01T00:00:00.000000001Z\"}\n");
  auto j = nlohmann::json::parse(l);
  EXPECT_EQ(j["log"], "hi \"x\"\t\\\n");
}

TEST(EngineLogs, InvalidUtf8AndControlBytesStayValidJson) {
  std::string raw = std::string("ok \xC3\xA9 bad \xFF\xC3 ctl \x01\x1b end\n");
  auto j = nlohmann::json::parse(format_log_line(raw, Stream::Stdout, "t"));
  std::string got = j["log"];
  EXPECT_NE(got.find("\xC3\xA9"), std::string::npos);
  EXPECT_NE(got.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_NE(got.find('\x1b'), std::string::npos);
}

TEST(EngineLogs, WriterSplitsChunksIntoLinesPerStream) {
  std::string path = temp_path("log-split");
  {
    LogWriter w(path);
    w.write(Stream::Stdout, "a\nb", 3);
    w.write(Stream::Stderr, "E1\n", 3);
    w.write(Stream::Stdout, "c\nd\n", 4);
    w.write(Stream::Stdout, "tail-no-newline", 15);
    w.flush();
  }
  auto l = lines_of(path);
  ASSERT_EQ(l.size(), 5u);
  EXPECT_EQ(l[0]["log"], "a\n");
  EXPECT_EQ(l[1]["log"], "E1\n");
  EXPECT_EQ(l[1]["stream"], "stderr");
  EXPECT_EQ(l[2]["log"], "bc\n");
  EXPECT_EQ(l[3]["log"], "d\n");
  EXPECT_EQ(l[4]["log"], "tail-no-newline");
  for (auto& x : l) EXPECT_EQ(std::string(x["time"]).back(), 'Z');
}

TEST(EngineLogs, VeryLongLineIsSplitNotHeldForever) {
  std::string path = temp_path("log-long");
  LogWriter w(path);
  std::string big(40000, 'x');
  w.write(Stream::Stdout, big.data(), big.size());
  EXPECT_GE(lines_of(path).size(), 2u);  // written before any newline arrived
}

TEST(EngineLogs, PrintRoutesStreamsAndHonoursTailAndTimestamps) {
  std::string path = temp_path("log-print");
  {
    LogWriter w(path);
    for (int i = 1; i <= 5; ++i) {
      std::string s = "line" + std::to_string(i) + "\n";
      w.write(i == 4 ? Stream::Stderr : Stream::Stdout, s.data(), s.size());
    }
  }
  FILE* out = std::tmpfile();
  FILE* err = std::tmpfile();
  LogReadOptions o;
  o.tail = 3;
  print_logs(path, o, fileno(out), fileno(err), [] { return false; });
  EXPECT_EQ(read_all(fileno(out)), "line3\nline5\n");
  EXPECT_EQ(read_all(fileno(err)), "line4\n");
  FILE* out2 = std::tmpfile();
  o.tail = 1;
  o.timestamps = true;
  print_logs(path, o, fileno(out2), fileno(err), [] { return false; });
  std::string ts = read_all(fileno(out2));
  EXPECT_EQ(ts.substr(ts.size() - 7), " line5\n");
  EXPECT_EQ(ts[4], '-');  // 2026-...
  std::fclose(out);
  std::fclose(err);
  std::fclose(out2);
}

TEST(EngineLogs, FollowReadsLinesAppendedWhileRunning) {
  std::string path = temp_path("log-follow");
  LogWriter w(path);
  w.write(Stream::Stdout, "first\n", 6);
  FILE* out = std::tmpfile();
  int polls = 0;
  LogReadOptions o;
  o.follow = true;
  print_logs(path, o, fileno(out), fileno(out), [&] {
    if (++polls == 2) w.write(Stream::Stdout, "second\n", 7);
    return polls < 4;
  });
  EXPECT_EQ(read_all(fileno(out)), "first\nsecond\n");
  std::fclose(out);
}

TEST(EngineLogs, TornOrForeignLinesAreSkipped) {
  EXPECT_FALSE(parse_log_line("{\"log\":\"x"));
  EXPECT_FALSE(parse_log_line("[1,2]"));
  auto e = parse_log_line(R"({"log":"x\n","stream":"stderr","time":"t"})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->stream, Stream::Stderr);
}
