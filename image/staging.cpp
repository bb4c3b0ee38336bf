#include "image/staging.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::image {


Staging::Staging(const Store& s) {
  mkdir_p(s.tmp_dir());
  FileLock store_lock(s.lock_path(), FileLock::Mode::Exclusive);
  std::string name = random_hex(8);
  path_ = s.tmp_dir() + "/" + name;
  lock_path_ = path_ + ".lock";
  lock_ = std::make_unique<FileLock>(lock_path_, FileLock::Mode::Exclusive);
  if (::mkdir(path_.c_str(), 0700) < 0) throw_sys("mkdir", path_);
}

Staging::~Staging() {
  try {
    remove_all(path_);
  } catch (...) {
  }
  ::unlink(lock_path_.c_str());
}

// With the exclusive store lock held: removes staging entries whose owner died.
bool clean_stale_tmp(const Store& s) {
  bool found = false;
  for (auto& n : list_dir(s.tmp_dir())) {
    std::string p = s.tmp_dir() + "/" + n;
    if (n.size() > 5 && n.substr(n.size() - 5) == ".lock") {
      FileLock l = FileLock::try_lock(p, FileLock::Mode::Exclusive);
      if (!l.held()) continue;
      std::string dir = p.substr(0, p.size() - 5);
      if (path_exists(dir)) remove_all(dir);
      ::unlink(p.c_str());
      found = true;
    } else if (!path_exists(p + ".lock")) {
      remove_all(p);  // a directory whose lock is gone: its owner died
      found = true;
    }
  }
  return found;
}


}  // namespace hvrun::image
