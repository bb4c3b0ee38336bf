// hvrun export [-o FILE] CONTAINER: the container's filesystem as a tar.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "cli/commands.hpp"
#include "engine/changes.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::cli {

void register_export(CLI::App& app, Context& ctx, Action& action) {
  auto name = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("export", "Write a container's filesystem as a tar archive (stdout or -o FILE)");
  sub->add_option("-o,--output", *output, "Write to FILE instead of stdout ('-': stdout)");
  sub->add_option("container", *name, "Container name or id")->required();
  sub->callback([&ctx, &action, name, output] {
    action = [&ctx, name, output]() -> int {
      if (output->empty() || *output == "-") {
        if (::isatty(STDOUT_FILENO))
          throw Error("refusing to write a tar archive to a terminal: use -o FILE or redirect stdout");
        engine::export_container(ctx.root(), *name, STDOUT_FILENO);
        return 0;
      }
      engine::Records(ctx.root()).resolve(*name);  // a missing container: nothing is created
      struct stat st {};
      if (::stat(output->c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        // A device or fifo (-o /dev/null): written as it is.
        UniqueFd fd(::open(output->c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) throw_sys("open", *output);
        engine::export_container(ctx.root(), *name, fd.get());
        return 0;
      }
      // Into a temporary name beside FILE, renamed when complete: a failed
      // export leaves no partial archive under FILE.
      const std::string tmp = *output + ".hvrun-tmp." + std::to_string(::getpid());
      UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (!fd) throw_sys("create", tmp);
      try {
        engine::export_container(ctx.root(), *name, fd.get());
        if (::fsync(fd.get()) < 0) throw_sys("fsync", tmp);
        fd.reset();
        if (::rename(tmp.c_str(), output->c_str()) < 0) throw_sys("rename to", *output);
      } catch (...) {
        ::unlink(tmp.c_str());
        throw;
      }
      return 0;
    };
  });
}

}  // namespace hvrun::cli
