// A Dockerfile/Containerfile read into instructions, as Docker's parser
// reads it: parser directives at the top (`# escape=` honoured, `# syntax=`
// and others ignored), comments, blank lines, line continuations with the
// escape character (comment lines inside a continuation are dropped), the
// keyword case-insensitive, `--flag=value` words after the keyword, and the
// JSON (exec) form of RUN, CMD, ENTRYPOINT, SHELL, VOLUME, COPY and ADD.
// Nothing is expanded here: variables are the executor's (expand.hpp).
#pragma once
#include <string>
#include <vector>

namespace hvrun::builder {

struct Instruction {
  std::string keyword;             // upper case: "FROM", "RUN", ...
  std::vector<std::string> flags;  // "--from=build", "--chown=1:1" in order, quotes removed (as Docker)
  std::string args;                // the rest after the flags, continuations joined, trimmed
  bool json_form = false;          // args is a JSON array of strings
  std::vector<std::string> json;   // its elements, when json_form
  int line = 0;                    // 1-based line where the instruction starts
  std::string text;                // keyword + flags + args as one line (progress, errors)
};

struct Dockerfile {
  std::string name;  // what errors call it ("Containerfile")
  char escape = '\\';
  std::vector<Instruction> instructions;
};

// Throws hvrun::Error "NAME:LINE: why" for an unknown instruction, an
// instruction without its arguments, a flag the instruction does not take
// (COPY: --from --chown --chmod --link; ADD: --chown --chmod --checksum
// --link; FROM: --platform; HEALTHCHECK: --interval --timeout
// --start-period --start-interval --retries; RUN: --network --mount
// --security refused with a line saying not supported), an `escape`
// directive other than \ or `, a JSON array holding a non-string (as
// Docker; text that is not valid JSON is the shell form), an instruction
// other than ARG before the first FROM, or a file without any FROM
// ("NAME: no FROM instruction"). Also checked, as Docker: COPY/ADD take two
// or more words, FROM one or `image AS name`, SHELL the JSON form, ENV and
// LABEL `k=v ...` or `k value`, ONBUILD a known non-FROM/ONBUILD trigger.
// Keywords: FROM RUN CMD ENTRYPOINT COPY ADD ENV ARG WORKDIR USER LABEL
// EXPOSE VOLUME STOPSIGNAL HEALTHCHECK SHELL ONBUILD MAINTAINER.
Dockerfile parse_dockerfile(const std::string& text, const std::string& name);

}  // namespace hvrun::builder
