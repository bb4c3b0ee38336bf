#include "image/load.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/layer.hpp"
#include "image/staging.hpp"
#include "image/store_records.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace hvrun::image {

namespace {

std::vector<ImportedImage> load_from(const Store& s, const std::string& path, const std::string& display,
                                     ImportNotes* notes) {
  Importer imp(s, path, display);
  auto out = imp.load_all();
  if (notes) notes->dropped_devices = imp.dropped_devices();
  return out;
}

}  // namespace

std::vector<ImportedImage> load_images(const Store& s, const std::string& path, ImportNotes* notes) {
  if (path != "-") {
    struct stat st;
    if (::stat(path.c_str(), &st) < 0) throw_sys("load", path);
  }
  for (const char* sub : {"", "/layers", "/images", "/tmp"}) mkdir_p(s.root() + sub, 0700);
  {
    FileLock lock(s.lock_path(), FileLock::Mode::Exclusive);
    tidy(s);
  }
  if (path != "-") return load_from(s, path, path, notes);
  // The formats need to look at the archive more than once: spooled into
  // a staging file that goes with the staging dir.
  if (::isatty(STDIN_FILENO))
    throw Error("load: no archive on stdin: give one with -i FILE, or redirect stdin (hvrun load < FILE)");
  Staging spool_dir(s);
  const std::string file = spool_dir.path() + "/stdin";
  {
    UniqueFd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) throw_sys("create", file);
    if (spool(STDIN_FILENO, out.get(), "stdin", s.max_image_size(), s.min_free_space()) == 0)
      throw Error("load: nothing on stdin (give an archive with -i FILE or pipe one in: hvrun save IMAGE | hvrun load)");
  }
  return load_from(s, file, "stdin", notes);
}

}  // namespace hvrun::image
