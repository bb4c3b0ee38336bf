#include "registry/client.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <sstream>

#include "registry/auth.hpp"
#include "registry/curl_api.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace hvrun::registry {

using json = nlohmann::json;

namespace {


std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// host without port.
std::string host_name(const std::string& host) {
  if (!host.empty() && host[0] == '[') return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find(':'));
}

std::string escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

// `Bearer realm="https://a/token",service="reg",scope="repository:x:pull"`
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};

Challenge parse_challenge(const std::string& h) {
  Challenge c;
  size_t i = h.find(' ');
  c.scheme = lower(trim(h.substr(0, i)));
  if (i == std::string::npos) return c;
  std::string rest = h.substr(i + 1);
  size_t p = 0;
  while (p < rest.size()) {
    while (p < rest.size() && (rest[p] == ' ' || rest[p] == ',')) ++p;
    size_t eq = rest.find('=', p);
    if (eq == std::string::npos) break;
    std::string key = lower(trim(rest.substr(p, eq - p)));
    p = eq + 1;
    std::string val;
    if (p < rest.size() && rest[p] == '"') {
      ++p;
      while (p < rest.size() && rest[p] != '"') {
        if (rest[p] == '\\' && p + 1 < rest.size()) ++p;
        val += rest[p++];
      }
      ++p;
    } else {
      size_t e = rest.find(',', p);
      val = trim(rest.substr(p, e == std::string::npos ? std::string::npos : e - p));
      p = e == std::string::npos ? rest.size() : e;
    }
    c.params[key] = val;
  }
  return c;
}

const char* reason(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "";
  }
}

// First file that exists among the usual per-registry CA places.
void find_ca(const std::string& host, const std::string& root, std::string& cafile, std::string& cadir) {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("HVRUN_CERTS_DIR"); d && *d) dirs.push_back(std::string(d) + "/" + host);
  if (!root.empty()) dirs.push_back(root + "/certs.d/" + host);
  dirs.push_back("/etc/containers/certs.d/" + host);
  dirs.push_back("/etc/docker/certs.d/" + host);
  for (auto& d : dirs) {
    if (!is_dir(d)) continue;
    if (path_exists(d + "/ca.crt")) {
      cafile = d + "/ca.crt";
      return;
    }
    for (auto& n : list_dir(d))
      if (n.size() > 4 && n.substr(n.size() - 4) == ".crt") {
        cafile = d + "/" + n;
        return;
      }
    cadir = d;
  }
}

}  // namespace

std::string registry_host(const std::string& domain) {
  if (domain.empty() || domain == "docker.io" || domain == "index.docker.io") return "registry-1.docker.io";
  return domain;
}

bool is_insecure_default(const std::string& host, const std::string& store_root) {
  std::string h = host_name(host);
  if (h == "localhost" || h.rfind("127.", 0) == 0 || h == "[::1]") return true;
  auto listed = [&](const std::string& entry) {
    std::string e = trim(entry);
    return !e.empty() && (e == host || e == h);
  };
  if (const char* env = std::getenv("HVRUN_INSECURE_REGISTRIES"); env && *env) {
    std::stringstream ss(env);
    std::string e;
    while (std::getline(ss, e, ','))
      if (listed(e)) return true;
  }
  if (!store_root.empty()) {
    std::string f = store_root + "/insecure-registries";
    if (path_exists(f)) {
      std::stringstream ss(read_file(f));
      std::string e;
      while (std::getline(ss, e))
        if (e.rfind('#', 0) != 0 && listed(e)) return true;
    }
  }
  return false;
}

struct Client::Handle {
  CURL* easy = nullptr;
  Handle() : easy(curl_api().easy_init()) {
    if (!easy) throw Error("libcurl: curl_easy_init failed");
  }
  ~Handle() { curl_api().easy_cleanup(easy); }
};

Client::Client(std::string host, ClientOptions opt) : host_(std::move(host)), opt_(std::move(opt)) {
  curl_api();  // loads libcurl, or says what is missing
  if (opt_.tls_verify) {
    verify_ = *opt_.tls_verify;
  } else {
    verify_ = !is_insecure_default(host_, opt_.store_root);
  }
  allow_http_ = !verify_;
  if (!opt_.cacert.empty()) {
    if (!path_exists(opt_.cacert)) throw Error("--cacert " + opt_.cacert + ": no such file");
    cainfo_ = opt_.cacert;
  } else {
    find_ca(host_, opt_.store_root, cainfo_, capath_);
  }
  creds_ = opt_.creds ? opt_.creds : load_credentials(host_);
}

Client::~Client() = default;

void Client::add_scope(const std::string& scope) {
  std::lock_guard<std::mutex> g(mu_);
  if (scopes_.insert(scope).second && auth_header_.rfind("Bearer ", 0) == 0) auth_header_.clear();
}

std::string Client::base_url() const { return scheme_ + "://" + host_; }

std::unique_ptr<Client::Handle> Client::take_handle() {
  std::lock_guard<std::mutex> g(mu_);
  if (pool_.empty()) return std::make_unique<Handle>();
  auto h = std::move(pool_.back());
  pool_.pop_back();
  return h;
}

void Client::give_handle(std::unique_ptr<Handle> h) {
  std::lock_guard<std::mutex> g(mu_);
  pool_.push_back(std::move(h));
}

std::string Client::authorization() const {
  std::lock_guard<std::mutex> g(mu_);
  return auth_header_;
}

namespace {

struct Transfer {
  const Request* req;
  Response* resp;
  bool too_big = false;
  bool sink_stopped = false;
  uint64_t read_pos = 0;
  std::exception_ptr error;  // thrown by a callback: rethrown after the transfer
};

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  std::string line(p, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->resp->headers.clear();  // a new response (after a redirect or 100)
    auto sp = line.find(' ');
    if (sp != std::string::npos) t->resp->status = std::strtol(line.c_str() + sp + 1, nullptr, 10);
    return size * n;
  }
  auto c = line.find(':');
  if (c != std::string::npos) t->resp->headers[lower(trim(line.substr(0, c)))] = trim(line.substr(c + 1));
  return size * n;
}

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  if (t->req->sink && t->resp->status >= 200 && t->resp->status < 300) {
    try {
      if (!t->req->sink(p, len)) {
        t->sink_stopped = true;
        return 0;
      }
    } catch (...) {
      t->error = std::current_exception();
      return 0;
    }
    return len;
  }
  if (t->resp->body.size() + len > t->req->max_body) {
    t->too_big = true;
    return 0;
  }
  t->resp->body.append(p, len);
  return len;
}

size_t on_read(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  ssize_t r;
  do r = ::read(t->req->upload_fd, p, size * n);
  while (r < 0 && errno == EINTR);
  if (r < 0) return CURL_READFUNC_ABORT;
  t->read_pos += static_cast<uint64_t>(r);
  try {
    if (t->req->on_upload) t->req->on_upload(t->read_pos);
  } catch (...) {
    t->error = std::current_exception();
    return CURL_READFUNC_ABORT;
  }
  return static_cast<size_t>(r);
}

}  // namespace

Response Client::perform(const Request& r, const std::string& authz) {
  const CurlApi& C = curl_api();
  auto h = take_handle();
  CURL* e = h->easy;
  C.easy_reset(e);
  Response resp;
  Transfer t{&r, &resp};
  std::string url = r.target.rfind("http", 0) == 0 ? r.target : base_url() + r.target;
  // A Location may be relative ("/v2/x/blobs/uploads/uuid?...").
  char errbuf[CURL_ERROR_SIZE] = {0};
  C.easy_setopt(e, CURLOPT_URL, url.c_str());
  C.easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  C.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  C.easy_setopt(e, CURLOPT_USERAGENT, "hvrun/0.1");
  C.easy_setopt(e, CURLOPT_CONNECTTIMEOUT, opt_.connect_timeout_s);
  // A stalled transfer (no byte for 60 s) fails instead of hanging.
  C.easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  C.easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
  C.easy_setopt(e, CURLOPT_FOLLOWLOCATION, r.follow_redirects ? 1L : 0L);
  C.easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  C.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify_ ? 1L : 0L);
  C.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify_ ? 2L : 0L);
  if (!cainfo_.empty()) C.easy_setopt(e, CURLOPT_CAINFO, cainfo_.c_str());
  if (!capath_.empty()) C.easy_setopt(e, CURLOPT_CAPATH, capath_.c_str());
  C.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  C.easy_setopt(e, CURLOPT_HEADERDATA, &t);
  C.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  C.easy_setopt(e, CURLOPT_WRITEDATA, &t);
  C.easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
  if (r.upload_fd >= 0 && ::lseek(r.upload_fd, 0, SEEK_SET) < 0) throw_sys("seek upload source", host_);
  struct curl_slist* hl = nullptr;
  for (auto& x : r.headers) hl = C.slist_append(hl, x.c_str());
  if (!authz.empty()) hl = C.slist_append(hl, ("Authorization: " + authz).c_str());
  hl = C.slist_append(hl, "Expect:");
  if (r.method == "HEAD") {
    C.easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (r.method == "GET") {
    C.easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (r.upload_fd >= 0) {
    C.easy_setopt(e, CURLOPT_UPLOAD, 1L);
    C.easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    C.easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    C.easy_setopt(e, CURLOPT_READDATA, &t);
    C.easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(r.upload_size));
  } else {
    C.easy_setopt(e, CURLOPT_POST, 1L);
    C.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    C.easy_setopt(e, CURLOPT_COPYPOSTFIELDS, r.body.c_str());
    if (r.method != "POST") C.easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    if (r.body.empty()) hl = C.slist_append(hl, "Content-Type:");
  }
  C.easy_setopt(e, CURLOPT_HTTPHEADER, hl);
  HVRUN_DEBUG("registry", r.method, " ", url);
  CURLcode rc = C.easy_perform(e);
  C.slist_free_all(hl);
  long code = 0;
  C.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  if (code) resp.status = code;
  char* eff = nullptr;
  std::string effective_url;
  if (C.easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) effective_url = eff;
  give_handle(std::move(h));
  HVRUN_DEBUG("registry", r.method, " ", url, " -> ", resp.status, rc ? std::string(" (") + C.easy_strerror(rc) + ")" : "");
  if (t.error) std::rethrow_exception(t.error);
  if (t.too_big) throw Error(url + ": response larger than " + std::to_string(r.max_body) + " bytes");
  if (t.sink_stopped) throw Error(url + ": transfer stopped");
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] ? errbuf : C.easy_strerror(rc);
    bool transient = rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR ||
                     rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE || rc == CURLE_GOT_NOTHING;
    if (transient) throw TransientError(host_ + ": " + r.method + " " + url + ": " + why);
    throw Error(host_ + ": " + r.method + " " + url + ": " + why);
  }
  // Relative Locations are resolved against the URL that gave them.
  if (auto loc = resp.headers.find("location"); loc != resp.headers.end() && !loc->second.empty() &&
                                                  loc->second.rfind("http", 0) != 0) {
    std::string base = effective_url.empty() ? url : effective_url;
    auto p = base.find("://");
    auto s = base.find('/', p == std::string::npos ? 0 : p + 3);
    std::string origin = s == std::string::npos ? base : base.substr(0, s);
    loc->second = (loc->second[0] == '/' ? origin : base.substr(0, base.rfind('/') + 1)) + loc->second;
  }
  return resp;
}

bool Client::authenticate(const std::string& header) {
  Challenge c = parse_challenge(header);
  std::optional<Credentials> creds;
  std::set<std::string> scopes;
  {
    std::lock_guard<std::mutex> g(mu_);
    creds = creds_;
    scopes = scopes_;
  }
  if (c.scheme == "basic") {
    if (!creds) return false;
    std::lock_guard<std::mutex> g(mu_);
    std::string want = "Basic " + base64_encode(creds->user + ":" + creds->password);
    if (auth_header_ == want) return false;
    auth_header_ = want;
    return true;
  }
  if (c.scheme != "bearer") throw Error(host_ + ": unsupported authentication scheme '" + c.scheme + "'");
  std::string realm = c.params["realm"];
  if (realm.empty()) throw Error(host_ + ": bearer challenge without a realm");
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&") + "service=" + escape(c.params["service"]);
  {
    std::stringstream ss(c.params["scope"]);
    std::string s;
    while (ss >> s) scopes.insert(s);
  }
  for (auto& s : scopes) url += "&scope=" + escape(s);
  Request tr;
  tr.target = url;
  tr.max_body = 1u << 20;
  std::string basic = creds ? "Basic " + base64_encode(creds->user + ":" + creds->password) : "";
  Response resp = perform(tr, basic);
  if (resp.status == 401 || resp.status == 403)
    throw Error(host_ + ": the token service " + realm + " refused " +
                (creds ? "the credentials of '" + creds->user + "'" : std::string("an anonymous request; log in with hvrun login ") + host_) +
                " (HTTP " + std::to_string(resp.status) + ")");
  if (resp.status != 200) throw Error(host_ + ": token service " + realm + ": HTTP " + std::to_string(resp.status));
  std::string token;
  try {
    json j = json::parse(resp.body);
    token = j.value("token", "");
    if (token.empty()) token = j.value("access_token", "");
  } catch (const json::exception&) {
  }
  if (token.empty()) throw Error(host_ + ": token service " + realm + " answered without a token");
  std::lock_guard<std::mutex> g(mu_);
  std::string want = "Bearer " + token;
  if (auth_header_ == want) return false;
  auth_header_ = want;
  return true;
}

void Client::ping() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (pinged_) return;
  }
  Request r;
  r.target = "/v2/";
  r.max_body = 1u << 20;
  Response resp;
  try {
    resp = perform(r, "");
  } catch (const Error& first) {
    if (!allow_http_ || scheme_ != "https") throw;
    scheme_ = "http";  // an insecure registry that speaks plain HTTP
    HVRUN_DEBUG("registry", host_, ": HTTPS failed (", first.what(), "), trying HTTP");
    try {
      resp = perform(r, "");
    } catch (const Error&) {
      scheme_ = "https";
      throw Error(first.what());
    }
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    pinged_ = true;
  }
  if (resp.status == 401) {
    std::string ch = resp.header("www-authenticate");
    if (!ch.empty() && authenticate(ch)) resp = perform(r, authorization());
  }
  if (resp.status == 401) {
    std::lock_guard<std::mutex> g(mu_);
    if (creds_) throw Error(host_ + ": unauthorized: the registry refused the credentials of '" + creds_->user + "'");
  } else if (resp.status == 404) {
    throw Error(host_ + ": not an OCI distribution registry (GET /v2/: HTTP 404)");
  } else if (resp.status >= 500) {
    throw Error(host_ + ": registry error (GET /v2/: HTTP " + std::to_string(resp.status) + ")");
  }
}

Response Client::send(const Request& r) {
  bool full = r.target.rfind("http", 0) == 0;
  if (!full) ping();
  if (full) {
    // A Location elsewhere (blob storage) gets no registry credentials.
    auto p = r.target.find("://");
    std::string h = p == std::string::npos ? "" : r.target.substr(p + 3);
    h = h.substr(0, h.find_first_of("/?"));
    if (h != host_) return perform(r, "");
  }
  Response resp = perform(r, authorization());
  if (resp.status == 401) {
    std::string ch = resp.header("www-authenticate");
    if (!ch.empty() && authenticate(ch)) resp = perform(r, authorization());
  }
  return resp;
}

void Client::fail(const Request& r, const Response& resp, const std::string& what) const {
  std::string msg;
  try {
    json j = json::parse(resp.body);
    if (j.contains("errors") && j["errors"].is_array())
      for (auto& e : j["errors"]) {
        if (!msg.empty()) msg += "; ";
        msg += e.value("message", lower(e.value("code", "")));
      }
  } catch (const json::exception&) {
  }
  if (msg.empty()) msg = reason(resp.status);
  // The path, without scheme and host, and without a query string's secrets.
  std::string path = r.target;
  if (path.rfind("http", 0) == 0) {
    auto p = path.find('/', path.find("://") == std::string::npos ? 0 : path.find("://") + 3);
    path = p == std::string::npos ? "/" : path.substr(p);
  }
  if (auto q = path.find('?'); q != std::string::npos && path.find("/blobs/uploads/") != std::string::npos) path.resize(q);
  std::string out = what + ": " + msg + " (" + r.method + " " + host_ + path + ": HTTP " + std::to_string(resp.status) + ")";
  if (resp.status == 401) {
    std::lock_guard<std::mutex> g(mu_);
    out += creds_ ? "; the registry refused the credentials of '" + creds_->user + "'" : "; log in with: hvrun login " + host_;
  }
  if (resp.status >= 500 || resp.status == 429) throw TransientError(out);
  throw Error(out);
}

}  // namespace hvrun::registry
