#include "container/pty.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "util/error.hpp"

namespace hvrun::container {

PtyPair open_pty(int dirfd, const char* name) {
  PtyPair p;
  p.master.reset(::openat(dirfd, name, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW));
  if (!p.master) throw_sys("open", name);
  struct statfs st {};
  if (::fstatfs(p.master.get(), &st) < 0) throw_sys("fstatfs", name);
  if (st.f_type != DEVPTS_SUPER_MAGIC) throw Error(std::string(name) + " is not on a devpts filesystem");
  int unlock = 0;
  check_sys(::ioctl(p.master.get(), TIOCSPTLCK, &unlock), "ioctl(TIOCSPTLCK)");
  // TIOCGPTPEER opens the slave without a path lookup (no /dev/pts/N race).
  p.slave.reset(::ioctl(p.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.slave) throw_sys("ioctl(TIOCGPTPEER)");
  return p;
}

void become_tty_session(int slave) {
  if (::setsid() < 0 && errno != EPERM) throw_sys("setsid");
  check_sys(::ioctl(slave, TIOCSCTTY, 0), "ioctl(TIOCSCTTY)");
  for (int i = 0; i < 3; ++i) check_sys(::dup2(slave, i), "dup2 tty");
}

void send_fd(int sock, int fd) {
  char byte = 'F';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  while (::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
    if (errno != EINTR) throw_sys("sendmsg(SCM_RIGHTS)");
}

UniqueFd recv_fd(int sock) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  ssize_t n;
  while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0)
    if (errno != EINTR) throw_sys("recvmsg(SCM_RIGHTS)");
  if (n == 0) return {};
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return UniqueFd(fd);
    }
  }
  return {};
}

void set_window_size(int master, unsigned short rows, unsigned short cols) {
  winsize ws{};
  ws.ws_row = rows;
  ws.ws_col = cols;
  check_sys(::ioctl(master, TIOCSWINSZ, &ws), "ioctl(TIOCSWINSZ)");
}

}  // namespace hvrun::container
