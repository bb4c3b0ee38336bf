#include "image/commit.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <exception>
#include <thread>

#include "image/builder.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::image {

namespace {

// Runs write_layer_tar(upper) on a thread into a pipe whose read end
// add_layer consumes.
class TarPipe {
 public:
  TarPipe(std::string upper, LayerTarOptions opt) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw_sys("pipe");
    read_.reset(fds[0]);
    write_.reset(fds[1]);
    ::fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);  // fewer wake-ups; best effort
    thread_ = std::thread([this, upper = std::move(upper), opt = std::move(opt)] {
      try {
        write_layer_tar(upper, write_.get(), opt);
      } catch (...) {
        error_ = std::current_exception();
      }
      write_.reset();
    });
  }
  ~TarPipe() { finish(false); }
  int fd() const { return read_.get(); }
  // Waits for the writer; rethrows its error when `rethrow`.
  void finish(bool rethrow) {
    if (!thread_.joinable()) return;
    read_.reset();  // a writer still writing gets EPIPE rather than blocking
    thread_.join();
    if (rethrow && error_) std::rethrow_exception(error_);
  }

 private:
  UniqueFd read_, write_;
  std::thread thread_;
  std::exception_ptr error_;
};

// SIGPIPE ignored while it lives: a failed add_layer must not kill us
// through the writer.
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &old_);
  }
  ~IgnoreSigpipe() { ::sigaction(SIGPIPE, &old_, nullptr); }
  IgnoreSigpipe(const IgnoreSigpipe&) = delete;
  IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;

 private:
  struct sigaction old_ {};
};

}  // namespace

std::string commit_image(const Store& store, ImageCommit c) {
  ImageBuilder b(store, c.what);
  for (auto& l : c.base_layers) b.reuse_layer(l);
  if (!c.upper.empty()) {
    c.tar.max_size = store.max_layer_size();
    c.tar.min_free_space = 0;  // a pipe: add_layer guards the store's free space itself
    IgnoreSigpipe quiet;
    TarPipe tar(c.upper, c.tar);
    try {
      b.add_layer(tar.fd(), "changes of " + c.what);
    } catch (...) {
      tar.finish(false);
      throw;
    }
    tar.finish(true);
  }
  nlohmann::json ids = nlohmann::json::array();
  for (auto& l : b.layers()) ids.push_back("sha256:" + l.diff_id);
  c.config["rootfs"] = {{"type", "layers"}, {"diff_ids", ids}};
  b.set_config(c.config.dump(), "new image config");
  b.set_parent(c.parent);
  return b.commit(c.tags);
}

}  // namespace hvrun::image
