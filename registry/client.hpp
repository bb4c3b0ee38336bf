// HTTP to one OCI distribution registry (libcurl): the scheme decision
// (HTTPS, or plain HTTP for insecure registries), TLS trust (--cacert,
// certs.d directories), and the auth flow: a request answered 401 is
// retried once with Basic credentials or a Bearer token fetched from the
// realm the WWW-Authenticate challenge names.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace hvrun::registry {

struct Credentials {
  std::string user, password;
  bool empty() const { return user.empty() && password.empty(); }
};

struct ClientOptions {
  // nullopt: decided per host (insecure list, loopback); true: verify TLS
  // and never use plain HTTP; false: skip verification, plain HTTP allowed.
  std::optional<bool> tls_verify;
  std::string cacert;        // a CA bundle file (--cacert)
  std::string store_root;    // for ROOT/insecure-registries and ROOT/certs.d
  std::optional<Credentials> creds;  // overrides the auth file
  long connect_timeout_s = 15;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names; last value wins
  std::string body;                           // unless a sink took it
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Request {
  std::string method = "GET";  // GET HEAD POST PUT PATCH DELETE
  std::string target;          // "/v2/..." (on the registry) or a full URL (Location)
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // for POST/PUT unless upload_fd is set
  int upload_fd = -1;                // PUT/PATCH body from this file (re-read from 0 on a retry)
  uint64_t upload_size = 0;
  // Receives the response body of a 2xx answer instead of Response::body;
  // returning false aborts the transfer.
  std::function<bool(const char*, size_t)> sink;
  // Upload progress (bytes sent so far).
  std::function<void(uint64_t)> on_upload;
  size_t max_body = 16u << 20;  // a larger body (without a sink) is refused
  bool follow_redirects = true;
};

// The host a reference's domain is served from ("" -> Docker Hub's registry).
std::string registry_host(const std::string& domain);
// True when plain HTTP / unverified TLS is allowed for host by default:
// loopback, $HVRUN_INSECURE_REGISTRIES (comma-separated hosts) or a line in
// ROOT/insecure-registries.
bool is_insecure_default(const std::string& host, const std::string& store_root);

// A failure worth one more try: the connection broke or timed out, or the
// registry answered 5xx or 429.
class TransientError : public Error {
 public:
  using Error::Error;
};

class Client {
 public:
  Client(std::string host, ClientOptions opt);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& host() const { return host_; }
  // Scopes asked for in every token request beside the challenge's own
  // ("repository:team/app:pull,push").
  void add_scope(const std::string& scope);

  // GET /v2/: picks the scheme, learns the auth challenge, checks the
  // credentials. Throws a one-line error when the registry cannot be reached
  // or refuses the credentials.
  void ping();
  // One request, with the auth retry. Transport failures throw; HTTP
  // statuses come back in Response.
  Response send(const Request& r);

  // "GET /v2/x/manifests/1: 404 Not Found: MANIFEST_UNKNOWN: ..." as an Error.
  [[noreturn]] void fail(const Request& r, const Response& resp, const std::string& what) const;
  std::string base_url() const;

 private:
  struct Handle;
  std::unique_ptr<Handle> take_handle();
  void give_handle(std::unique_ptr<Handle> h);
  Response perform(const Request& r, const std::string& authorization);
  // Handles a 401 challenge; true when a retry can succeed.
  bool authenticate(const std::string& challenge);
  std::string authorization() const;

  std::string host_;
  ClientOptions opt_;
  bool verify_ = true;
  bool allow_http_ = false;
  std::string scheme_ = "https";
  std::string cainfo_, capath_;
  std::optional<Credentials> creds_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> pool_;
  std::set<std::string> scopes_;
  std::string auth_header_;  // "Basic ..." or "Bearer ..."
  bool pinged_ = false;
};

}  // namespace hvrun::registry
