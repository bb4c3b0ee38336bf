// A small HTTP/1.1 server on a unix socket for `hvrun serve`: requests are
// parsed by Boost.Beast, each connection has a thread of its own, and a
// handler may answer with a whole response or take the connection over for
// a stream (Docker's attach and logs: a raw or hijacked stream that ends
// when the connection closes). The caller's uid comes from SO_PEERCRED.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hvrun::api {

struct Request {
  std::string method;                         // "GET", "POST", ...
  std::string path;                           // percent-decoded, without the query
  std::map<std::string, std::string> query;   // percent-decoded; the last of repeated keys
  std::vector<std::pair<std::string, std::string>> query_list;  // all of them, in order
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  // Root's image upload or docker cp into a container, with the server's
  // upload_dir set: the body went into this file instead (body is empty);
  // the server removes it once the handler returns.
  std::string body_file;
  uid_t uid = static_cast<uid_t>(-1);  // the peer's, from SO_PEERCRED
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;

  // A query flag as Docker reads one: "1", "true", "True" -> true.
  bool flag(const std::string& key) const;
  std::string param(const std::string& key, const std::string& fallback = "") const;
};

class Connection {
 public:
  explicit Connection(int fd) : fd_(fd) {}
  // A whole response; keep-alive unless the request asked otherwise. The
  // answer to a HEAD request has its headers only (Content-Length says
  // what a GET would have had).
  void respond(int status, const std::string& content_type, const std::string& body,
               const std::map<std::string, std::string>& headers = {});
  // Starts a stream: the status line and headers go out now, then write()
  // sends raw bytes; the connection closes when the handler returns.
  // 101 with "Upgrade: tcp" is Docker's hijack.
  void begin_stream(int status, const std::map<std::string, std::string>& headers);
  bool write(const void* data, size_t len);  // false once the peer is gone
  bool write(const std::string& s) { return write(s.data(), s.size()); }
  // Whether the peer hung up (or sent more than we read: for a stream,
  // input we do not take is ignored).
  bool peer_gone() const;
  // Whether the peer closed the connection entirely (a half-close is not).
  bool peer_closed() const;
  bool responded() const { return responded_; }
  bool streaming() const { return streaming_; }
  int fd() const { return fd_; }
  void set_head_request(bool head) { head_ = head; }

 private:
  int fd_;
  bool head_ = false;
  bool responded_ = false;
  bool streaming_ = false;
};

using Handler = std::function<void(const Request&, Connection&)>;

struct ServerOptions {
  std::string socket_path;
  std::string group;  // the socket is root:GROUP 0660; "" or a missing group: root only, said once
  size_t max_connections = 512;
  size_t max_header_bytes = 64 * 1024;
  size_t max_body_bytes = 64 * 1024 * 1024;
  // Root's POST /images/load and PUT .../archive: streamed into a file in
  // upload_dir (Request::body_file), up to max_upload_bytes; with no
  // upload_dir, held in memory up to max_body_bytes as any request.
  std::string upload_dir;
  uint64_t max_upload_bytes = uint64_t{256} << 30;
};

class Server {
 public:
  explicit Server(ServerOptions opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Binds the socket (a stale one left by a dead server is replaced; a
  // live one is refused). Throws with the reason.
  void listen();
  // Accepts until stop(); each connection on a thread of its own.
  void serve(const Handler& handler);
  void stop();  // async-signal-safe enough: sets a flag and shuts the socket
  size_t active_connections() const { return active_.load(); }

 private:
  void connection(int fd, const Handler& handler);
  ServerOptions opts_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> active_{0};
};

// "HTTP/1.1 404 Not Found" reason phrases for the codes the API uses.
const char* reason_phrase(int status);
// Docker's error body: {"message": "..."} and a newline.
std::string error_body(const std::string& message);
// A request target ("/a%20b?x=1&y") into r.path, r.query and r.query_list.
void parse_target(const std::string& target, Request& r);
// %XX and '+' decoding of a query component.
std::string percent_decode(const std::string& s, bool plus_is_space);

}  // namespace hvrun::api
