#include "builder/dockerignore.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "util/error.hpp"
#include "util/fs.hpp"

using hvrun::builder::DockerIgnore;
using hvrun::builder::match_path;

TEST(BuilderDockerIgnore, MatchPathFollowsGoFilepathMatch) {
  EXPECT_TRUE(match_path("*.md", "README.md"));
  EXPECT_FALSE(match_path("*.md", "docs/README.md"));  // * stops at '/'
  EXPECT_TRUE(match_path("a?c", "abc"));
  EXPECT_FALSE(match_path("a?c", "a/c"));
  EXPECT_TRUE(match_path("[a-z]x", "kx"));
  EXPECT_FALSE(match_path("[a-z]x", "Kx"));
  EXPECT_TRUE(match_path("[^a-z]x", "Kx"));
  EXPECT_TRUE(match_path("a\\*b", "a*b"));
  EXPECT_FALSE(match_path("a\\*b", "axb"));
}

TEST(BuilderDockerIgnore, DoubleStarMatchesAnyNumberOfDirectories) {
  EXPECT_TRUE(match_path("**/*.go", "main.go"));
  EXPECT_TRUE(match_path("**/*.go", "cmd/tool/main.go"));
  EXPECT_FALSE(match_path("**/*.go", "main.gox"));
  EXPECT_TRUE(match_path("a/**/b", "a/b"));
  EXPECT_TRUE(match_path("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(match_path("a/**/b", "ab"));
  EXPECT_TRUE(match_path("dir/**", "dir/x/y"));
  EXPECT_TRUE(match_path("**", "anything/at/all"));
  EXPECT_TRUE(match_path("**/node_modules", "web/node_modules"));
  EXPECT_TRUE(match_path("**/node_modules", "node_modules"));
}

// Found by tests/fuzz/dockerignore: the matcher backtracked through every
// way to split the path among the stars, so a .dockerignore line of many
// '*' (or "**") against a long path took exponential time and `hvrun build`
// hung. Each of these took far beyond ctest's timeout before; now each is
// answered at once, and the same as before.
TEST(BuilderDockerIgnore, ManyStarsAgainstALongPathAnswerWithoutBacktrackingForever) {
  std::string stars, doubles;
  for (int i = 0; i < 30; ++i) stars += "*a";
  for (int i = 0; i < 30; ++i) doubles += "**/a";
  const std::string as(200, 'a');
  std::string dirs;
  for (int i = 0; i < 100; ++i) dirs += "a/";
  EXPECT_FALSE(match_path(stars + "b", as));
  EXPECT_TRUE(match_path(stars, as));
  EXPECT_FALSE(match_path(doubles + "/b", dirs + "c"));
  EXPECT_TRUE(match_path(doubles, dirs + "a"));
  EXPECT_FALSE(match_path("/tmp/ " + std::string(40, '*') + "c", "/tmp/ " + std::string(100, 'x')));
}

TEST(BuilderDockerIgnore, MalformedPatternIsAnError) {
  EXPECT_THROW(match_path("[a", "a"), hvrun::Error);
  EXPECT_THROW(match_path("[]", "a"), hvrun::Error);
  EXPECT_THROW(match_path("a\\", "a"), hvrun::Error);
  EXPECT_THROW(DockerIgnore::parse("ok\n[a-\n"), hvrun::Error);
  EXPECT_THROW(DockerIgnore::parse("!\n"), hvrun::Error);
}

TEST(BuilderDockerIgnore, StarMdExcludesOnlyTopLevelMarkdownAndExceptionBringsReadmeBack) {
  auto d = DockerIgnore::parse("*.md\n!README.md\n");
  EXPECT_TRUE(d.excluded("CHANGES.md"));
  EXPECT_FALSE(d.excluded("README.md"));
  EXPECT_FALSE(d.excluded("docs/guide.md"));
  EXPECT_FALSE(d.excluded("main.c"));
}

TEST(BuilderDockerIgnore, LastMatchingPatternWins) {
  auto d = DockerIgnore::parse("!README.md\n*.md\n");
  EXPECT_TRUE(d.excluded("README.md"));
  auto e = DockerIgnore::parse("*.md\n!*.md\nREADME.md\n");
  EXPECT_TRUE(e.excluded("README.md"));
  EXPECT_FALSE(e.excluded("OTHER.md"));
}

TEST(BuilderDockerIgnore, DoubleStarGoExcludesGoFilesAtAnyDepth) {
  auto d = DockerIgnore::parse("**/*.go\n");
  EXPECT_TRUE(d.excluded("main.go"));
  EXPECT_TRUE(d.excluded("pkg/a/b.go"));
  EXPECT_FALSE(d.excluded("pkg/a/b.c"));
}

TEST(BuilderDockerIgnore, DirectoryPatternExcludesEverythingUnderIt) {
  auto d = DockerIgnore::parse("build/\nnode_modules\n");
  EXPECT_TRUE(d.excluded("build"));
  EXPECT_TRUE(d.excluded("build/out/a.o"));
  EXPECT_TRUE(d.excluded("node_modules/x/package.json"));
  EXPECT_FALSE(d.excluded("buildx"));
  EXPECT_FALSE(d.excluded("src/build"));
  EXPECT_FALSE(d.has_exceptions_under("build"));
}

TEST(BuilderDockerIgnore, ExceptionUnderAnExcludedDirectoryIsFoundByTheWalker) {
  auto d = DockerIgnore::parse("vendor\n!vendor/keep/*.txt\n");
  EXPECT_TRUE(d.excluded("vendor"));
  EXPECT_TRUE(d.excluded("vendor/drop/a.txt"));
  EXPECT_FALSE(d.excluded("vendor/keep/a.txt"));
  EXPECT_TRUE(d.excluded("vendor/keep/a.bin"));
  EXPECT_TRUE(d.has_exceptions_under("vendor"));
  EXPECT_TRUE(d.has_exceptions_under("vendor/keep"));
  EXPECT_FALSE(d.has_exceptions_under("vendor/drop"));
  EXPECT_FALSE(d.has_exceptions_under("other"));
  EXPECT_TRUE(DockerIgnore::parse("*\n!**/keep\n").has_exceptions_under("any/dir"));
}

TEST(BuilderDockerIgnore, CommentsBlankLinesAndSpacesAreSkipped) {
  auto d = DockerIgnore::parse("# a comment\n\n   \n  *.log  \n# *.txt\n");
  EXPECT_TRUE(d.excluded("a.log"));
  EXPECT_FALSE(d.excluded("a.txt"));
  EXPECT_FALSE(d.excluded("# a comment"));
  EXPECT_TRUE(DockerIgnore::parse("# only\n\n").empty());
}

TEST(BuilderDockerIgnore, PatternsAreCleanedAndLeadingSlashIsTheContextRoot) {
  auto d = DockerIgnore::parse("/secret\n./tmp//x/\na/../b\n! /keep/me \n/\n");
  EXPECT_TRUE(d.excluded("secret"));
  EXPECT_TRUE(d.excluded("secret/key"));
  EXPECT_TRUE(d.excluded("tmp/x/y"));
  EXPECT_TRUE(d.excluded("b"));
  EXPECT_FALSE(d.excluded("a"));
  EXPECT_FALSE(d.excluded("keep/me"));
  EXPECT_FALSE(d.excluded("other"));
  EXPECT_FALSE(d.excluded("."));
}

TEST(BuilderDockerIgnore, CharacterClassesMatchOneCharacter) {
  auto d = DockerIgnore::parse("log[0-9].txt\n");
  EXPECT_TRUE(d.excluded("log1.txt"));
  EXPECT_FALSE(d.excluded("logx.txt"));
  EXPECT_FALSE(d.excluded("log10.txt"));
}

TEST(BuilderDockerIgnore, LoadReadsDockerignoreThenContainerignore) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("hvrun-ignore-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  EXPECT_TRUE(DockerIgnore::load(dir).empty());
  hvrun::write_file_atomic(dir / ".containerignore", "*.c\n");
  EXPECT_TRUE(DockerIgnore::load(dir).excluded("a.c"));
  hvrun::write_file_atomic(dir / ".dockerignore", "*.h\n");
  auto d = DockerIgnore::load(dir);
  EXPECT_TRUE(d.excluded("a.h"));
  EXPECT_FALSE(d.excluded("a.c"));
  fs::remove_all(dir);
}
