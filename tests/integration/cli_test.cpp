// The command line itself, as a Docker user meets it: help, unknown
// commands, usage lines, and the refusals that need no container.
#include <string>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

TEST(Cli, BareHvrunAndHvrunHelpPrintTheHelpWithTheCommandsAndExitZero) {
  for (const std::vector<std::string>& argv : {std::vector<std::string>{hvrun_bin()},
                                                std::vector<std::string>{hvrun_bin(), "help"}}) {
    Result r = run(argv);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("Usage: hvrun"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("run"), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find("A subcommand is required"), std::string::npos) << r.err;
  }
}

TEST(Cli, HelpCommandGivesTheCommandsOwnHelp) {
  Result r = run({hvrun_bin(), "help", "run"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Usage: hvrun run [OPTIONS] IMAGE [COMMAND] [ARG...]"), std::string::npos) << r.out;
}

TEST(Cli, AnUnknownCommandIsNamedAndTheCommandsListedWithStatus125) {
  for (const char* word : {"swarm", "frobnicate"}) {
    Result r = run({hvrun_bin(), word, "x"});
    EXPECT_EQ(r.code, 125) << word;
    EXPECT_NE(r.err.find(std::string("hvrun: unknown command \"") + word + "\""), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Commands:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("\n  run "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("\n  ps "), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(Cli, RunHelpShowsImageAndCommandInItsUsage) {
  Result r = run({hvrun_bin(), "run", "--help"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Usage: hvrun run [OPTIONS] IMAGE [COMMAND] [ARG...]"), std::string::npos) << r.out;
}

// Completes `words` (the last one being completed) with the generated script.
std::string complete(const std::string& words) {
  Result r = run({"bash", "-c",
                  "source <(\"$0\" completion bash) || exit 9; COMP_WORDS=($1); COMP_CWORD=$((${#COMP_WORDS[@]} - 1));"
                  " [[ $1 == *' ' ]] && { COMP_WORDS+=(''); COMP_CWORD=$((COMP_CWORD + 1)); }; _hvrun;"
                  " [ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\\n' \"${COMPREPLY[@]}\"",
                  hvrun_bin(), words});
  EXPECT_EQ(r.code, 0) << r.err;
  return r.out;
}

TEST(Cli, BashCompletionComesFromTheCliDefinitionCommandsSubcommandsAndFlags) {
  EXPECT_EQ(complete("hvrun ru"), "run\n");
  EXPECT_NE(complete("hvrun ").find("network\n"), std::string::npos);
  EXPECT_NE(complete("hvrun run --me").find("--memory\n"), std::string::npos);
  EXPECT_NE(complete("hvrun --root /x run --pu").find("--publish\n"), std::string::npos);
  EXPECT_EQ(complete("hvrun image im"), "import\n");
  EXPECT_NE(complete("hvrun network ").find("prune\n"), std::string::npos);
  EXPECT_NE(complete("hvrun network create --su").find("--subnet\n"), std::string::npos);
  EXPECT_EQ(complete("hvrun completion bash --nosuch"), "");
}

TEST(Cli, CompletionForAnUnknownShellIsOneLineAndStatus125) {
  Result r = run({hvrun_bin(), "completion", "tcsh"});
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("unsupported shell \"tcsh\""), std::string::npos) << r.err;
}

class CliRun : public StoreFixture {};

TEST_F(CliRun, RunItWithStdinFromAPipeRefusesAtOnceLikeDocker) {
  HVRUN_REQUIRE_ROOT();
  Result r = hv({"run", "-it", "--rm", "--net", "none", "busybox", "cat"}, "piped\n", 20);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.code, 125) << r.err;
  EXPECT_NE(r.err.find("the input device is not a TTY"), std::string::npos) << r.err;
  EXPECT_EQ(trim(hv({"ps", "-aq"}).out), "") << "nothing was created";
  // -i alone passes the pipe and its EOF.
  Result i = hv({"run", "-i", "--rm", "--net", "none", "busybox", "cat"}, "piped\n", 20);
  EXPECT_EQ(i.code, 0) << i.err;
  EXPECT_EQ(i.out, "piped\n");
}

TEST_F(CliRun, TermIsXtermWithTAndHomeIsTheUsersAsInDocker) {
  HVRUN_REQUIRE_ROOT();
  Result t = hv({"run", "-t", "--rm", "--net", "none", "busybox", "sh", "-c", "echo T=$TERM H=$HOME"}, "", 30);
  EXPECT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("T=xterm H=/root"), std::string::npos) << t.out;
  Result n = hv({"run", "--rm", "--net", "none", "-u", "nobody", "-e", "TERM=dumb", "busybox", "sh", "-c",
                 "echo T=$TERM H=$HOME"},
                "", 30);
  EXPECT_EQ(n.code, 0) << n.err;
  EXPECT_EQ(n.out, "T=dumb H=/\n");  // nobody's home in the harness image is /
  Result e = hv({"run", "-t", "--rm", "--net", "none", "-e", "TERM=vt100", "-e", "HOME=/h", "busybox", "sh", "-c",
                 "echo T=$TERM H=$HOME"},
                "", 30);
  EXPECT_NE(e.out.find("T=vt100 H=/h"), std::string::npos) << e.out;
}

TEST_F(CliRun, LimitsOutsideDockersRangesAreRefusedInOneLineBeforeAnythingIsMade) {
  HVRUN_REQUIRE_ROOT();
  Result m = hv({"run", "--rm", "--memory", "64", "busybox", "true"});
  EXPECT_EQ(m.code, 125);
  EXPECT_NE(m.err.find("the minimum memory limit allowed is 6MB"), std::string::npos) << m.err;
  Result c = hv({"run", "--rm", "--cpus", "999", "busybox", "true"});
  EXPECT_EQ(c.code, 125);
  EXPECT_NE(c.err.find("the range of CPUs is from 0.01 to"), std::string::npos) << c.err;
  EXPECT_EQ(trim(hv({"ps", "-aq"}).out), "");
}

}  // namespace
}  // namespace hvrun::test
