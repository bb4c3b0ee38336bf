#include "registry/curl_api.hpp"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "util/error.hpp"

namespace hvrun::registry {

namespace {

template <typename F>
void resolve(void* lib, F& fn, const char* name) {
  void* p = ::dlsym(lib, name);
  if (!p) throw Error(std::string("libcurl.so.4: no symbol ") + name);
  fn = reinterpret_cast<F>(p);
}

CurlApi load() {
  void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = ::dlerror();
    throw Error(std::string("cannot load libcurl (needed for registries; apt-get install libcurl4): ") + (why ? why : "?"));
  }
  CurlApi a{};
  resolve(lib, a.global_init, "curl_global_init");
  resolve(lib, a.easy_init, "curl_easy_init");
  resolve(lib, a.easy_cleanup, "curl_easy_cleanup");
  resolve(lib, a.easy_reset, "curl_easy_reset");
  resolve(lib, a.easy_setopt, "curl_easy_setopt");
  resolve(lib, a.easy_perform, "curl_easy_perform");
  resolve(lib, a.easy_getinfo, "curl_easy_getinfo");
  resolve(lib, a.easy_strerror, "curl_easy_strerror");
  resolve(lib, a.slist_append, "curl_slist_append");
  resolve(lib, a.slist_free_all, "curl_slist_free_all");
  if (a.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error("libcurl: curl_global_init failed");
  return a;  // the library stays loaded for the life of the process
}

}  // namespace

const CurlApi& curl_api() {
  static std::once_flag once;
  static CurlApi api;
  std::call_once(once, [] { api = load(); });
  return api;
}

}  // namespace hvrun::registry
