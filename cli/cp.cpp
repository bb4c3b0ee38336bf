// hvrun cp CONTAINER:SRC DEST|-  /  hvrun cp SRC|- CONTAINER:DEST: files
// between the host and a container, with Docker's meaning of the paths
// (engine/changes.hpp says how the container's side is reached).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <functional>
#include <optional>
#include <cstdlib>

#include "cli/commands.hpp"
#include "engine/changes.hpp"
#include "image/layer.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::cli {

namespace {

// "name:/path" is a container's path; a local one with a colon is written
// "./a:b" (a slash or dot before the colon makes it local, as Docker's).
bool split_ref(const std::string& arg, std::string& container, std::string& path) {
  const size_t colon = arg.find(':');
  if (colon == std::string::npos || colon == 0 || arg[0] == '.' || arg[0] == '/' ||
      arg.substr(0, colon).find('/') != std::string::npos)
    return false;
  container = arg.substr(0, colon);
  path = arg.substr(colon + 1);
  if (path.empty()) path = "/";
  return true;
}

std::pair<std::string, std::string> host_parent_and_base(const std::string& p) {
  std::string s = std::filesystem::absolute(p).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  if (s == "/") return {"/", "."};
  const size_t slash = s.rfind('/');
  return {slash == 0 ? "/" : s.substr(0, slash), s.substr(slash + 1)};
}

// A tar made by `produce` into an unnamed scratch file, then read by
// `consume`. (Not a pipe: the engine may fork a child to reach a stopped
// container's files, and a child holding a pipe's other end would keep
// the reader from ever seeing its end.)
void through_scratch(const std::function<void(int)>& produce, const std::function<void(int)>& consume) {
  const char* dir = std::getenv("TMPDIR");
  const std::string d = dir && *dir ? dir : "/var/tmp";
  UniqueFd f(::open(d.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  // A file system without unnamed files (9p, some FUSE): one in memory.
  if (!f && (errno == EOPNOTSUPP || errno == EISDIR)) f.reset(::memfd_create("hvrun-cp", MFD_CLOEXEC));
  if (!f) throw_sys("create a scratch file in", d);
  produce(f.get());
  if (::lseek(f.get(), 0, SEEK_SET) < 0) throw_sys("seek the scratch file in", d);
  consume(f.get());
}

int copy_out(const std::string& root, const std::string& container, const std::string& src, const std::string& dest) {
  const engine::PathInfo info = engine::stat_in_container(root, container, src);
  if (dest == "-") {
    if (::isatty(STDOUT_FILENO)) throw Error("refusing to write a tar archive to a terminal: redirect stdout");
    engine::copy_from_container(root, container, src, STDOUT_FILENO);
    return 0;
  }
  image::ExtractOptions o;
  o.whiteouts = false;
  o.keep_root = true;
  auto produce = [&](int fd) { engine::copy_from_container(root, container, src, fd); };
  struct stat st {};
  const bool exists = ::stat(dest.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) {  // into the directory, under its own name
    UniqueFd d(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d) throw_sys("open", dest);
    through_scratch(produce, [&](int fd) { image::extract_tar(fd, container + ":" + src, d.get(), o); });
    return 0;
  }
  if (!exists && !dest.empty() && dest.back() == '/') throw Error("destination directory " + dest + " does not exist");
  if (exists && S_ISDIR(info.mode)) throw Error("cannot copy directory " + src + " over the file " + dest);
  // As DEST: unpacked into a new directory beside it (mkdtemp: a name
  // nobody else can have planted), then renamed into place.
  const auto [parent, base] = host_parent_and_base(dest);
  if (!is_dir(parent)) throw Error("destination directory " + parent + " does not exist");
  std::string tmp = parent + "/.hvrun-cp.XXXXXX";
  if (!::mkdtemp(tmp.data())) throw_sys("mkdtemp", tmp);
  auto cleanup = [&] {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
  };
  try {
    UniqueFd d(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d) throw_sys("open", tmp);
    through_scratch(produce, [&](int fd) { image::extract_tar(fd, container + ":" + src, d.get(), o); });
    if (info.name == "/") {  // the whole root: the new directory is the copy
      if (::rename(tmp.c_str(), dest.c_str()) < 0) throw_sys("rename to", dest);
      return 0;
    }
    if (::renameat(d.get(), info.name.c_str(), AT_FDCWD, dest.c_str()) < 0) throw_sys("rename to", dest);
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  return 0;
}

int copy_in(const std::string& root, const std::string& src, const std::string& container, const std::string& dest) {
  if (src == "-") {
    engine::copy_into_container(root, container, dest, STDIN_FILENO);
    return 0;
  }
  struct stat st {};
  if (::lstat(src.c_str(), &st) < 0) throw_sys("cp: no such file or directory", src);
  std::optional<engine::PathInfo> there;
  try {
    there = engine::stat_in_container(root, container, dest);
  } catch (const Error& e) {
    if (std::string(e.what()).rfind("no such file", 0) != 0) throw;
  }
  std::string dir = dest, as;
  if (!there || !S_ISDIR(there->mode)) {
    if (!there && dest.back() == '/') throw Error("destination directory " + container + ":" + dest + " does not exist");
    if (there && S_ISDIR(st.st_mode)) throw Error("cannot copy directory " + src + " over the file " + container + ":" + dest);
    // DEST names the copy: into its parent, under DEST's name.
    std::string d = dest;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    const size_t slash = d.rfind('/');
    dir = slash == std::string::npos ? "/" : (slash == 0 ? "/" : d.substr(0, slash));
    as = slash == std::string::npos ? d : d.substr(slash + 1);
  }
  // Named, not a structured binding: clang 14 (the fuzz build) cannot capture one.
  const auto split = host_parent_and_base(src);
  const std::string& parent = split.first;
  const std::string& base = split.second;
  UniqueFd pd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!pd) throw_sys("open", parent);
  // (SRC/. gives its contents: into DEST when it is a directory, else as
  // DEST, a directory made by the copy.)
  through_scratch([&](int fd) { image::write_entry_tar(pd.get(), base, fd, as); },
               [&](int fd) { engine::copy_into_container(root, container, dir, fd); });
  return 0;
}

}  // namespace

void register_cp(CLI::App& app, Context& ctx, Action& action) {
  auto from = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("cp", "Copy files between a container and the host (CONTAINER:PATH; '-' is a tar on stdin/stdout)");
  sub->add_option("src", *from, "CONTAINER:SRC_PATH, SRC_PATH or - (a tar on stdin)")->required();
  sub->add_option("dest", *to, "CONTAINER:DEST_PATH, DEST_PATH or - (a tar on stdout)")->required();
  sub->callback([&ctx, &action, from, to] {
    action = [&ctx, from, to]() -> int {
      std::string c1, p1, c2, p2;
      const bool in1 = split_ref(*from, c1, p1), in2 = split_ref(*to, c2, p2);
      if (in1 == in2)
        throw Error(in1 ? "copying between containers is not supported: copy through the host"
                        : "one of the two paths must be CONTAINER:PATH");
      return in1 ? copy_out(ctx.root(), c1, p1, *to) : copy_in(ctx.root(), *from, c2, p2);
    };
  });
}

}  // namespace hvrun::cli
