#include "builder/dockerfile.hpp"

#include <gtest/gtest.h>

#include "util/error.hpp"

using hvrun::builder::Dockerfile;
using hvrun::builder::parse_dockerfile;

namespace {

Dockerfile parse(const std::string& text) { return parse_dockerfile(text, "Containerfile"); }

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const hvrun::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(BuilderDockerfile, InstructionsKeepTheirLineKeywordAndArguments) {
  auto df = parse("FROM alpine:3.19 AS build\n\nRUN echo hi\nworkdir /app\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  EXPECT_EQ(df.name, "Containerfile");
  EXPECT_EQ(df.escape, '\\');
  EXPECT_EQ(df.instructions[0].keyword, "FROM");
  EXPECT_EQ(df.instructions[0].args, "alpine:3.19 AS build");
  EXPECT_EQ(df.instructions[0].line, 1);
  EXPECT_EQ(df.instructions[1].line, 3);
  EXPECT_EQ(df.instructions[2].keyword, "WORKDIR");  // keywords are case-insensitive
  EXPECT_EQ(df.instructions[2].text, "WORKDIR /app");
}

TEST(BuilderDockerfile, ContinuationLinesJoinAndCommentLinesInsideAreDropped) {
  auto df = parse(
      "FROM alpine\n"
      "RUN apk add \\\n"
      "# a comment inside\n"
      "    curl \\  \n"
      "\n"
      "  && echo done\n"
      "CMD x\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  // Continuation lines keep their leading white space, as Docker's do.
  EXPECT_EQ(df.instructions[1].args, "apk add     curl   && echo done");
  EXPECT_EQ(df.instructions[1].line, 2);
  EXPECT_EQ(df.instructions[2].line, 7);
}

TEST(BuilderDockerfile, CommentsAndCrLfLinesAreRead) {
  auto df = parse("# comment\r\nFROM alpine\r\n  # indented comment\r\nRUN true\r\n");
  ASSERT_EQ(df.instructions.size(), 2u);
  EXPECT_EQ(df.instructions[1].args, "true");
}

TEST(BuilderDockerfile, EscapeDirectiveMakesBacktickTheContinuationCharacter) {
  auto df = parse("# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir c:\\ `\n  && echo x\n");
  EXPECT_EQ(df.escape, '`');
  ASSERT_EQ(df.instructions.size(), 2u);
  EXPECT_EQ(df.instructions[1].args, "dir c:\\   && echo x");
}

TEST(BuilderDockerfile, SyntaxAndEscapeDirectivesTogetherAreBothRead) {
  auto df = parse("# syntax=docker/dockerfile:1\n#escape = `\nFROM a\n");
  EXPECT_EQ(df.escape, '`');
}

TEST(BuilderDockerfile, DirectivesAfterACommentABlankLineOrAnInstructionAreComments) {
  EXPECT_EQ(parse("# a comment\n# escape=`\nFROM a\n").escape, '\\');
  EXPECT_EQ(parse("\n# escape=`\nFROM a\n").escape, '\\');
  EXPECT_EQ(parse("FROM a\n# escape=`\n").escape, '\\');
  // An unknown directive ends the block too.
  EXPECT_EQ(parse("# foo=bar\n# escape=`\nFROM a\n").escape, '\\');
}

TEST(BuilderDockerfile, BadOrRepeatedEscapeDirectiveIsAnErrorWithItsLine) {
  EXPECT_EQ(error_of("# escape=x\nFROM a\n"), "Containerfile:1: invalid escape token 'x' does not match ` or \\");
  EXPECT_EQ(error_of("# escape=`\n# escape=\\\nFROM a\n"),
            "Containerfile:2: only one escape parser directive can be used");
}

TEST(BuilderDockerfile, JsonArrayOfStringsIsTheExecForm) {
  auto df = parse("FROM a\nCMD [\"echo\", \"a b\"]\nENTRYPOINT  [ \"/bin/sh\" , \"-c\" ]\nCMD []\n");
  ASSERT_EQ(df.instructions.size(), 4u);
  EXPECT_TRUE(df.instructions[1].json_form);
  EXPECT_EQ(df.instructions[1].json, (std::vector<std::string>{"echo", "a b"}));
  EXPECT_TRUE(df.instructions[2].json_form);
  EXPECT_EQ(df.instructions[2].json, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_TRUE(df.instructions[3].json_form);
  EXPECT_TRUE(df.instructions[3].json.empty());
}

TEST(BuilderDockerfile, InvalidJsonIsTheShellForm) {
  auto df = parse("FROM a\nRUN [ -f /etc/x ] && echo y\nCMD ['single', 'quotes']\nRUN [\"a\"] trailing\n");
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_FALSE(df.instructions[i].json_form) << df.instructions[i].args;
    EXPECT_TRUE(df.instructions[i].json.empty());
  }
  EXPECT_EQ(df.instructions[1].args, "[ -f /etc/x ] && echo y");
}

TEST(BuilderDockerfile, JsonArrayWithANonStringIsAnError) {
  EXPECT_EQ(error_of("FROM a\nCMD [\"a\", 1]\n"),
            "Containerfile:2: when using JSON array syntax, arrays must be comprised of strings only");
}

TEST(BuilderDockerfile, JsonFormIsOnlyReadForExecInstructions) {
  auto df = parse("FROM a\nLABEL x=[\"a\"]\nCOPY [\"a b\", \"/dst/\"]\n");
  EXPECT_FALSE(df.instructions[1].json_form);
  EXPECT_TRUE(df.instructions[2].json_form);
  EXPECT_EQ(df.instructions[2].json, (std::vector<std::string>{"a b", "/dst/"}));
}

TEST(BuilderDockerfile, FlagsAfterTheKeywordAreTakenInOrder) {
  auto df = parse(
      "FROM --platform=linux/amd64 alpine AS b\n"
      "COPY --from=b --chown=\"1:1\" --link /src /dst\n"
      "ADD --checksum=sha256:ab --chmod=644 a.tar /x/\n"
      "HEALTHCHECK --interval=5s --retries=3 CMD true\n");
  EXPECT_EQ(df.instructions[0].flags, (std::vector<std::string>{"--platform=linux/amd64"}));
  EXPECT_EQ(df.instructions[0].args, "alpine AS b");
  EXPECT_EQ(df.instructions[1].flags, (std::vector<std::string>{"--from=b", "--chown=1:1", "--link"}));
  EXPECT_EQ(df.instructions[1].args, "/src /dst");
  EXPECT_EQ(df.instructions[1].text, "COPY --from=b --chown=1:1 --link /src /dst");
  EXPECT_EQ(df.instructions[2].flags, (std::vector<std::string>{"--checksum=sha256:ab", "--chmod=644"}));
  EXPECT_EQ(df.instructions[3].args, "CMD true");
}

TEST(BuilderDockerfile, FlagsStopAtTheFirstWordThatIsNotOne) {
  auto df = parse("FROM a\nCOPY src --from=x /dst\nCOPY -- --odd /dst\n");
  EXPECT_TRUE(df.instructions[1].flags.empty());
  EXPECT_EQ(df.instructions[1].args, "src --from=x /dst");
  EXPECT_TRUE(df.instructions[2].flags.empty());
  EXPECT_EQ(df.instructions[2].args, "--odd /dst");
}

TEST(BuilderDockerfile, UnknownOrUnsupportedFlagIsAnErrorWithFileAndLine) {
  EXPECT_EQ(error_of("FROM a\nCOPY --bogus=1 a b\n"), "Containerfile:2: COPY: unknown flag --bogus");
  EXPECT_EQ(error_of("FROM a\nWORKDIR --from=x /a\n"), "Containerfile:2: WORKDIR: unknown flag --from");
  EXPECT_EQ(error_of("FROM a\n\nRUN --mount=type=cache,target=/c make\n"),
            "Containerfile:3: RUN --mount is not supported");
  EXPECT_EQ(error_of("FROM a\nRUN --network=none true\n"), "Containerfile:2: RUN --network is not supported");
}

TEST(BuilderDockerfile, UnknownInstructionIsAnErrorWithFileAndLine) {
  EXPECT_EQ(error_of("FROM a\n\nFORM b\n"), "Containerfile:3: unknown instruction: FORM");
  EXPECT_EQ(error_of("FROM a\nRUN a \\\n  b\nbogus x\n"), "Containerfile:4: unknown instruction: bogus");
}

TEST(BuilderDockerfile, InstructionWithoutArgumentsIsAnError) {
  EXPECT_EQ(error_of("FROM a\nRUN\n"), "Containerfile:2: RUN requires at least one argument");
  EXPECT_EQ(error_of("FROM a\nWORKDIR   \n"), "Containerfile:2: WORKDIR requires at least one argument");
  EXPECT_EQ(error_of("FROM a\nCOPY --from=b\n"), "Containerfile:2: COPY requires at least one argument");
  EXPECT_EQ(error_of("FROM a\nCOPY onlyone\n"),
            "Containerfile:2: COPY requires at least two arguments: a source and a destination");
  EXPECT_EQ(error_of("FROM a\nENV k\n"), "Containerfile:2: ENV must have two arguments");
  EXPECT_EQ(error_of("FROM a b\n"),
            "Containerfile:1: FROM requires either one or three arguments (FROM image [AS name])");
}

TEST(BuilderDockerfile, ShapeOfEnvLabelShellAndOnbuildIsChecked) {
  EXPECT_EQ(error_of("FROM a\nENV a=1 b\n"),
            "Containerfile:2: syntax error: can't find = in \"b\", must be of the form name=value");
  EXPECT_EQ(error_of("FROM a\nSHELL /bin/sh -c\n"), "Containerfile:2: SHELL requires the arguments to be in JSON form");
  EXPECT_EQ(error_of("FROM a\nONBUILD FROM b\n"), "Containerfile:2: FROM isn't allowed as an ONBUILD trigger");
  auto df = parse("FROM a\nENV k the rest  is the value\nLABEL a=\"x y\" b=2\nONBUILD RUN make\n");
  EXPECT_EQ(df.instructions[1].args, "k the rest  is the value");
  EXPECT_EQ(df.instructions[3].args, "RUN make");
}

TEST(BuilderDockerfile, FileWithoutFromIsAnError) {
  EXPECT_EQ(error_of("ARG X=1\n"), "Containerfile: no FROM instruction");
  EXPECT_EQ(error_of("# only a comment\n"), "Containerfile: no FROM instruction");
  EXPECT_EQ(error_of(""), "Containerfile: no FROM instruction");
}

TEST(BuilderDockerfile, ArgBeforeFromIsKeptAsAnInstruction) {
  auto df = parse("ARG BASE=alpine\nARG TAG\nFROM ${BASE}:${TAG}\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  EXPECT_EQ(df.instructions[0].keyword, "ARG");
  EXPECT_EQ(df.instructions[0].args, "BASE=alpine");
  EXPECT_EQ(df.instructions[2].args, "${BASE}:${TAG}");  // nothing expanded here
}

TEST(BuilderDockerfile, OtherInstructionBeforeFromIsAnError) {
  EXPECT_EQ(error_of("RUN true\nFROM a\n"), "Containerfile:1: RUN before the first FROM (only ARG may come before it)");
}
