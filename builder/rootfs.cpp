#include "builder/rootfs.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/child.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace hvrun::builder {

void in_rootfs(const std::string& scratch, const std::vector<std::string>& lowers, const std::string& upper,
               const std::vector<std::string>* src_lowers, int src_fd, const std::function<void(int)>& fn,
               const std::function<void(int)>& before_chroot) {
  const std::string work = scratch + "/work", mnt = scratch + "/mnt", srcmnt = scratch + "/src";
  mkdir_p(work, 0700);
  mkdir_p(mnt, 0755);
  if (src_lowers) mkdir_p(srcmnt, 0755);
  run_in_child(
      [&] {
        if (::unshare(CLONE_NEWNS) < 0) throw_sys("unshare(CLONE_NEWNS)");
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) throw_sys("make / private");
        // Layers are named by short links (as Docker's overlay2 does), so
        // that a few hundred fit in the one page mount options may take.
        auto short_names = [&](const std::vector<std::string>& dirs, const std::string& prefix) {
          std::vector<std::string> names;
          mkdir_p(scratch + "/" + prefix, 0700);
          for (size_t i = 0; i < dirs.size(); ++i) {
            names.push_back(prefix + "/" + std::to_string(i));
            if (::symlink(dirs[i].c_str(), (scratch + "/" + names.back()).c_str()) < 0)
              throw_sys("symlink", scratch + "/" + names.back());
          }
          return join_strings(names, ":");
        };
        if (::chdir(scratch.c_str()) < 0) throw_sys("chdir", scratch);
        std::string root = upper;
        if (!lowers.empty()) {
          std::string o = "lowerdir=" + short_names(lowers, "l") + ",upperdir=" + upper + ",workdir=" + work;
          if (o.size() > 4000) throw Error("too many layers to mount at once (" + std::to_string(lowers.size()) + ")");
          if (::mount("overlay", mnt.c_str(), "overlay", 0, o.c_str()) < 0) throw_sys("mount the image so far at", mnt);
          root = mnt;
        }
        int sfd = src_fd;
        UniqueFd src_root;
        if (src_lowers) {
          if (src_lowers->empty()) {
            // scratch: nothing to copy from; an empty directory.
          } else if (src_lowers->size() == 1) {
            if (::mount((*src_lowers)[0].c_str(), srcmnt.c_str(), nullptr, MS_BIND, nullptr) < 0)
              throw_sys("bind the source image at", srcmnt);
            ::mount(nullptr, srcmnt.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr);
          } else {
            std::string o = "lowerdir=" + short_names(*src_lowers, "s");
            if (::mount("overlay", srcmnt.c_str(), "overlay", MS_RDONLY, o.c_str()) < 0)
              throw_sys("mount the source image at", srcmnt);
          }
          src_root.reset(::open(srcmnt.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
          if (!src_root) throw_sys("open", srcmnt);
          sfd = src_root.get();
        }
        if (before_chroot) before_chroot(sfd);  // /proc still there (sources resolve through it)
        if (::chroot(root.c_str()) < 0) throw_sys("chroot", root);
        if (::chdir("/") < 0) throw_sys("chdir /");
        ::umask(0);
        fn(sfd);
      },
      "the copying process");
}

Scratch::Scratch(const image::Store& s) {
  mkdir_p(s.tmp_dir(), 0700);
  path_ = s.tmp_dir() + "/build-" + random_hex(8);
  mkdir_p(path_ + "/upper", 0755);
}

Scratch::~Scratch() {
  try {
    remove_all(path_);
  } catch (const std::exception&) {
  }
}

}  // namespace hvrun::builder
