// The flags pull, push, login and registry share: TLS (--tls-verify,
// --insecure, --cacert) and credentials given on the command line.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "registry/client.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

struct RegistryFlags {
  std::string tls_verify;  // "", "true", "false"
  bool insecure = false;
  std::string cacert;
  std::string creds;  // USER[:PASSWORD]

  void add(CLI::App* sub, bool with_creds = true) {
    sub->add_option("--tls-verify", tls_verify,
                    "Verify TLS and use HTTPS only (true) or allow plain HTTP and unverified TLS (false); default: "
                    "false for loopback and $HVRUN_INSECURE_REGISTRIES / ROOT/insecure-registries hosts")
        ->check(CLI::IsMember({"true", "false"}));
    sub->add_flag("--insecure", insecure, "Same as --tls-verify=false");
    sub->add_option("--cacert", cacert, "CA certificate file to trust for the registry");
    if (with_creds) sub->add_option("--creds", creds, "Credentials USER:PASSWORD (instead of hvrun login)");
  }

  registry::ClientOptions options(const std::string& root) const {
    registry::ClientOptions o;
    o.store_root = root;
    o.cacert = cacert;
    if (insecure) o.tls_verify = false;
    if (tls_verify == "true") o.tls_verify = true;
    if (tls_verify == "false") o.tls_verify = false;
    if (!creds.empty()) {
      auto c = creds.find(':');
      if (c == std::string::npos) throw Error("--creds: expected USER:PASSWORD");
      o.creds = registry::Credentials{creds.substr(0, c), creds.substr(c + 1)};
    }
    return o;
  }
};

}  // namespace hvrun::cli
