#include "engine/vm_files.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "contract/plan.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

extern char** environ;

namespace hvrun::engine {

namespace {

constexpr uint64_t kRwDiskBytes = uint64_t(4096) << 20;

// Runs argv, its output to /dev/null; its exit status (128+N: signal N).
int run_status(const std::vector<std::string>& argv) {
  std::vector<char*> a;
  for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = ::posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw_sys("run " + argv[0], rc);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// Runs argv, output to /dev/null; throws with the command and its status.
void run_quiet(const std::vector<std::string>& argv) {
  if (int st = run_status(argv); st != 0) throw Error(argv[0] + " failed (status " + std::to_string(st) + ")");
}

// An empty sparse ext4 file system of kRwDiskBytes.
void format_rw_disk(const std::string& path) {
  {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) throw_sys("create", path);
    if (::ftruncate(fd.get(), off_t(kRwDiskBytes)) < 0) throw_sys("truncate", path);
  }
  run_quiet({"mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-E", "lazy_itable_init=1,nodiscard", "-L", "hvrun-rw",
             path});
}

}  // namespace

void make_rw_disk(const std::string& path, const std::string& blank) {
  if (!blank.empty()) {
    try {
      if (!path_exists(blank)) {
        const std::string tmp = blank + ".tmp-" + random_hex(4);
        try {
          format_rw_disk(tmp);
          if (::rename(tmp.c_str(), blank.c_str()) < 0) throw_sys("rename " + tmp + " to", blank);
        } catch (...) {
          ::unlink(tmp.c_str());
          throw;
        }
      }
      ::unlink(path.c_str());
      copy_file_sparse(blank, path);
      return;
    } catch (const std::exception& e) {
      HVRUN_DEBUG("engine", "writable disk formatted, not copied from ", blank, ": ", e.what());
    }
  }
  format_rw_disk(path);
}

void repair_rw_disk(const std::string& path) {
  const int st = run_status({"e2fsck", "-f", "-p", path});
  if (st >= 4)
    throw Error("the writable disk " + path + " has errors that e2fsck -p does not fix (e2fsck exit " + std::to_string(st) +
                "; e2fsck -f " + path + " shows them)");
}

void make_initramfs(const std::string& path, const std::string& guest_init, const std::string& spec_json) {
  std::string init = read_file(guest_init);
  struct archive* a = ::archive_write_new();
  if (!a) throw Error("archive_write_new failed");
  auto fail = [&](const std::string& what) {
    std::string msg = what + " " + path + ": " + (::archive_error_string(a) ? ::archive_error_string(a) : "?");
    ::archive_write_free(a);
    throw Error(msg);
  };
  if (::archive_write_set_format_cpio_newc(a) != ARCHIVE_OK) fail("cpio format");
  if (::archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK) fail("write initramfs");
  auto add = [&](const char* name, const std::string& data, mode_t mode) {
    struct archive_entry* e = ::archive_entry_new();
    ::archive_entry_set_pathname(e, name);
    ::archive_entry_set_filetype(e, AE_IFREG);
    ::archive_entry_set_perm(e, mode);
    ::archive_entry_set_size(e, la_int64_t(data.size()));
    ::archive_entry_set_nlink(e, 1);
    if (::archive_write_header(a, e) != ARCHIVE_OK) {
      ::archive_entry_free(e);
      fail(std::string("write ") + name + " to");
    }
    ::archive_entry_free(e);
    if (::archive_write_data(a, data.data(), data.size()) < 0) fail(std::string("write ") + name + " to");
  };
  add(contract::kInitName, init, 0755);
  add(contract::kSpecName, spec_json, 0644);
  if (::archive_write_close(a) != ARCHIVE_OK) fail("close");
  ::archive_write_free(a);
}

}  // namespace hvrun::engine
