// SHA-256 (OpenSSL EVP) as lowercase hex, streaming or one-shot.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace hvrun::image {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::string hex();  // finishes; call once

 private:
  evp_md_ctx_st* ctx_;
};

std::string sha256_hex(std::string_view data);
// Hashes everything readable from fd (from its current offset).
std::string sha256_fd(int fd, const std::string& name);
// True for exactly 64 lowercase hex digits.
bool is_hex64(std::string_view s);

}  // namespace hvrun::image
