// libcurl, loaded with dlopen on first use: linked normally it brings ~30
// shared libraries (nghttp2, gssapi, ldap, gnutls, ...) that every hvrun
// start, `run` included, would pay for in the dynamic loader (measured:
// `hvrun version` 7.6 ms -> 26.7 ms). Only the registry commands load it.
#pragma once
#include <curl/curl.h>

namespace hvrun::registry {

struct CurlApi {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL*);
  void (*easy_reset)(CURL*);
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

// Loads libcurl.so.4 once (and runs curl_global_init); throws a one-line
// error naming the package when it is missing.
const CurlApi& curl_api();

}  // namespace hvrun::registry
