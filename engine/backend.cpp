#include "engine/backend.hpp"

#include "util/error.hpp"

namespace hvrun::engine {

namespace {

class ContainerBackend final : public Backend {
 public:
  explicit ContainerBackend(std::function<void(pid_t)> on_ns) : on_ns_(std::move(on_ns)) {}
  void start(const container::RunSpec& spec, const container::Stdio& stdio, std::optional<WinSize> ws) override {
    c_.emplace(container::Container::start(spec, stdio, on_ns_));
    if (spec.tty && ws && ws->rows && ws->cols) c_->set_pty_size(ws->rows, ws->cols);
  }
  pid_t pid() const override { return c_ ? c_->pid() : -1; }
  int pty_master() const override { return c_ ? c_->pty_master() : -1; }
  container::ExitStatus wait() override { return c_->wait(); }
  void kill(int sig) override {
    if (c_) c_->kill(sig);
  }
  void resize(WinSize ws) override {
    if (c_ && ws.rows && ws.cols) c_->set_pty_size(ws.rows, ws.cols);
  }

 private:
  std::optional<container::Container> c_;
  std::function<void(pid_t)> on_ns_;
};

}  // namespace

std::unique_ptr<Backend> make_backend(Mode mode, std::function<void(pid_t)> on_namespaces) {
  if (mode == Mode::Container) return std::make_unique<ContainerBackend>(std::move(on_namespaces));
  throw Error(std::string("no backend for mode ") + to_string(mode) + " without its assets (make_vm_backend)");
}

}  // namespace hvrun::engine
