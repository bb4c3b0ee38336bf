#include "api/http.hpp"

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <cstring>
#include <optional>
#include <thread>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/log.hpp"

namespace hvrun::api {

namespace http = boost::beast::http;
using local = boost::asio::local::stream_protocol;

const char* reason_phrase(int status) {
  switch (status) {
    case 101: return "UPGRADED";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

std::string error_body(const std::string& message) {
  return nlohmann::json{{"message", message}}.dump() + "\n";
}

std::string percent_decode(const std::string& s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

void parse_target(const std::string& target, Request& r) {
  const size_t q = target.find('?');
  r.path = percent_decode(target.substr(0, q), false);
  if (q == std::string::npos) return;
  const std::string qs = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= qs.size()) {
    size_t amp = qs.find('&', pos);
    if (amp == std::string::npos) amp = qs.size();
    const std::string kv = qs.substr(pos, amp - pos);
    if (!kv.empty()) {
      const size_t eq = kv.find('=');
      std::string k = percent_decode(kv.substr(0, eq), true);
      std::string v = eq == std::string::npos ? "" : percent_decode(kv.substr(eq + 1), true);
      r.query[k] = v;
      r.query_list.emplace_back(std::move(k), std::move(v));
    }
    pos = amp + 1;
  }
}

bool Request::flag(const std::string& key) const {
  auto it = query.find(key);
  if (it == query.end()) return false;
  return it->second == "1" || it->second == "true" || it->second == "True";
}

std::string Request::param(const std::string& key, const std::string& fallback) const {
  auto it = query.find(key);
  return it == query.end() ? fallback : it->second;
}

namespace {

std::string head(int status, const std::map<std::string, std::string>& headers) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  for (const auto& [k, v] : headers) h += k + ": " + v + "\r\n";
  return h;
}

const std::map<std::string, std::string> kCommonHeaders = {
    {"Api-Version", "1.41"}, {"Docker-Experimental", "false"}, {"Ostype", "linux"}, {"Server", "hvrun"}};

}  // namespace

void Connection::respond(int status, const std::string& content_type, const std::string& body,
                         const std::map<std::string, std::string>& headers) {
  std::map<std::string, std::string> h = kCommonHeaders;
  for (const auto& [k, v] : headers) h[k] = v;
  if (!content_type.empty()) h["Content-Type"] = content_type;
  if (status != 204 && status != 304) h["Content-Length"] = std::to_string(body.size());
  std::string out = head(status, h) + "\r\n";
  if (status != 204 && status != 304 && !head_) out += body;
  responded_ = true;
  (void)write(out);
}

void Connection::begin_stream(int status, const std::map<std::string, std::string>& headers) {
  std::map<std::string, std::string> h = kCommonHeaders;
  for (const auto& [k, v] : headers) h[k] = v;
  if (status != 101) h["Connection"] = "close";
  responded_ = true;
  streaming_ = true;
  (void)write(head(status, h) + "\r\n");
}

bool Connection::write(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::send(fd_, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool Connection::peer_gone() const {
  pollfd p{fd_, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

bool Connection::peer_closed() const {
  pollfd p{fd_, 0, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLHUP | POLLERR)) != 0;
}

Server::Server(ServerOptions opts) : opts_(std::move(opts)) {}

Server::~Server() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void Server::listen() {
  const std::string& path = opts_.socket_path;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) throw Error("socket path too long or empty: \"" + path + "\"");
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  // A live server answers a connect: refuse to take its socket over.
  {
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0)
      throw Error("another server is listening on " + path);
  }
  ::unlink(path.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw_sys("socket");
  const mode_t old = ::umask(0117);
  const int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (rc < 0) throw_sys("bind", path);
  gid_t gid = 0;
  if (!opts_.group.empty()) {
    if (const group* g = ::getgrnam(opts_.group.c_str())) gid = g->gr_gid;
    else HVRUN_WARN("serve", "no group \"", opts_.group, "\": the socket is root's only (setup.sh makes the group)");
  }
  if (::chown(path.c_str(), 0, gid) < 0 && ::geteuid() == 0) throw_sys("chown", path);
  if (::chmod(path.c_str(), 0660) < 0) throw_sys("chmod", path);
  if (::listen(listen_fd_, 128) < 0) throw_sys("listen", path);
}

void Server::stop() {
  stopping_ = true;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
}

void Server::serve(const Handler& handler) {
  while (!stopping_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) ::usleep(100 * 1000);
        continue;
      }
      if (stopping_) break;
      throw_sys("accept", opts_.socket_path);
    }
    if (active_.load() >= opts_.max_connections) {
      Connection c(fd);
      c.respond(503, "application/json", "{\"message\":\"too many connections\"}\n", {{"Connection", "close"}});
      ::close(fd);
      continue;
    }
    ++active_;
    try {
      std::thread([this, fd, &handler] {
        connection(fd, handler);
        --active_;
      }).detach();
    } catch (const std::exception& e) {
      --active_;
      ::close(fd);
      HVRUN_WARN("serve", "no thread for a connection: ", e.what());
    }
  }
}

namespace {

// A scratch file in `dir` for an upload's body (mode 0600), removed with this.
struct UploadFile {
  std::string path;
  UniqueFd fd;
  explicit UploadFile(const std::string& dir) : path(dir + "/upload-XXXXXX") {
    if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) throw_sys("mkdir", dir);
    fd.reset(::mkostemp(path.data(), O_CLOEXEC));
    if (!fd) throw_sys("mkstemp", path);
  }
  ~UploadFile() { ::unlink(path.c_str()); }
  UploadFile(const UploadFile&) = delete;
  UploadFile& operator=(const UploadFile&) = delete;
};

}  // namespace

void Server::connection(int fd, const Handler& handler) {
  // An idle keep-alive connection is closed after 5 minutes.
  timeval tv{300, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ucred cred{};
  socklen_t len = sizeof cred;
  const bool have_cred = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
  boost::asio::io_context ioc;
  local::socket sock(ioc);
  boost::system::error_code ec;
  sock.assign(local(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  boost::beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    // An upload streamed into a file of upload_dir, removed when this
    // request is done; header_only: its request, with an empty body.
    std::optional<UploadFile> streamed;
    std::optional<http::request<http::string_body>> header_only;
    parser.header_limit(static_cast<std::uint32_t>(opts_.max_header_bytes));
    parser.body_limit(opts_.max_body_bytes);
    http::read_header(sock, buf, parser, ec);
    if (!ec) {
      // An image upload (docker load) may be larger than a request.
      // Root's only (tenants may not load), and by the path alone.
      std::string_view target(parser.get().target().data(), parser.get().target().size());
      target = target.substr(0, target.find('?'));
      const bool load = target == "/images/load" || (target.size() > 12 && target.rfind("/v", 0) == 0 &&
                                                     target.substr(target.size() - 12) == "/images/load" &&
                                                     target.find('/', 1) == target.size() - 12);
      // So may a docker cp into a container (PUT .../archive).
      const bool archive = parser.get().method() == http::verb::put && target.size() > 8 &&
                           target.substr(target.size() - 8) == "/archive";
      if ((load || archive) && have_cred && cred.uid == 0 && !opts_.upload_dir.empty() && !parser.is_done()) {
        try {
          streamed.emplace(opts_.upload_dir);
        } catch (const std::exception& e) {
          Connection(fd).respond(500, "application/json", error_body(std::string("no file for the upload: ") + e.what()),
                                 {{"Connection", "close"}});
          break;
        }
        http::request_parser<http::file_body> to_file{std::move(parser)};
        to_file.body_limit(opts_.max_upload_bytes);
        boost::beast::file f;
        f.native_handle(streamed->fd.release());  // f owns it now
        to_file.get().body().reset(std::move(f), ec);
        if (!ec) http::read(sock, buf, to_file, ec);
        if (!ec) {  // the request as a string-bodied one, its body in the file
          auto m = to_file.release();
          m.body().close();
          header_only.emplace(http::request<http::string_body>(std::move(static_cast<http::request_header<>&>(m))));
        }
      } else if (!parser.is_done()) {
        http::read(sock, buf, parser, ec);
      }
    }
    Connection conn(fd);
    if (!ec) conn.set_head_request((header_only ? header_only->method() : parser.get().method()) == http::verb::head);
    if (ec) {
      if (ec == http::error::end_of_stream || ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
        break;
      if (ec == http::error::header_limit)
        conn.respond(431, "application/json", "{\"message\":\"request headers too large\"}\n", {{"Connection", "close"}});
      else if (ec == http::error::body_limit)
        conn.respond(413, "application/json", "{\"message\":\"request body too large\"}\n", {{"Connection", "close"}});
      else if (streamed && ec == boost::system::errc::no_space_on_device)
        conn.respond(507, "application/json", error_body("no space left for the upload in " + opts_.upload_dir),
                     {{"Connection", "close"}});
      else if (ec != boost::asio::error::would_block && ec != boost::asio::error::try_again && ec != boost::asio::error::timed_out)
        conn.respond(400, "application/json", error_body("malformed HTTP request: " + ec.message()),
                     {{"Connection", "close"}});
      break;
    }
    auto msg = header_only ? std::move(*header_only) : parser.release();
    Request req;
    req.method = std::string(msg.method_string());
    parse_target(std::string(msg.target()), req);
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers[name] = std::string(f.value());
    }
    req.body = std::move(msg.body());
    if (streamed) req.body_file = streamed->path;
    if (have_cred) {
      req.uid = cred.uid;
      req.gid = cred.gid;
      req.pid = cred.pid;
    }
    try {
      handler(req, conn);
    } catch (const std::exception& e) {
      if (!conn.responded()) conn.respond(500, "application/json", error_body(e.what()));
    }
    if (!conn.responded()) conn.respond(500, "application/json", "{\"message\":\"no response\"}\n");
    if (conn.streaming() || !msg.keep_alive()) break;
  }
  sock.close(ec);
}

}  // namespace hvrun::api
