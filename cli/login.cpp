// hvrun login HOST [-u USER] [-p PASS | --password-stdin]; hvrun logout HOST
#include <termios.h>
#include <unistd.h>

#include <iostream>

#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "registry/auth.hpp"
#include "registry/client.hpp"

namespace hvrun::cli {

namespace {

std::string prompt(const std::string& text, bool secret) {
  if (!::isatty(STDIN_FILENO)) throw Error("cannot prompt for the " + std::string(secret ? "password" : "user name") +
                                           ": stdin is not a terminal (use -u and --password-stdin)");
  std::fprintf(stderr, "%s", text.c_str());
  std::fflush(stderr);
  termios old{};
  bool restore = false;
  if (secret && ::tcgetattr(STDIN_FILENO, &old) == 0) {
    termios t = old;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    restore = ::tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
  }
  std::string line;
  std::getline(std::cin, line);
  if (restore) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fprintf(stderr, "\n");
  }
  return line;
}

// "https://host/v1/" -> "host"
std::string host_arg(std::string h) {
  for (const char* p : {"https://", "http://"})
    if (h.rfind(p, 0) == 0) h = h.substr(std::string(p).size());
  if (auto s = h.find('/'); s != std::string::npos) h.resize(s);
  if (h.empty()) throw Error("login: no registry host given");
  return registry::registry_host(h);
}

}  // namespace

void register_login(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string host, user, password;
    bool password_stdin = false;
    RegistryFlags flags;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("login", "Log in to a registry: hvrun login HOST [-u USER] [--password-stdin]");
  sub->add_option("host", a->host, "Registry host[:port]")->required();
  sub->add_option("-u,--username", a->user, "User name");
  sub->add_option("-p,--password", a->password, "Password (visible to other users; prefer --password-stdin)");
  sub->add_flag("--password-stdin", a->password_stdin, "Read the password from stdin");
  a->flags.add(sub, false);
  sub->callback([&ctx, &action, a] {
    action = [&ctx, a]() -> int {
      std::string host = host_arg(a->host);
      if (a->password_stdin && !a->password.empty()) throw Error("login: --password and --password-stdin are mutually exclusive");
      if (a->password_stdin && a->user.empty()) throw Error("login: --password-stdin needs --username");
      if (a->password_stdin) {
        std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
        while (!all.empty() && (all.back() == '\n' || all.back() == '\r')) all.pop_back();
        a->password = all;
      }
      if (a->user.empty()) a->user = prompt("Username: ", false);
      if (a->password.empty()) a->password = prompt("Password: ", true);
      if (a->user.empty()) throw Error("login: a user name is required");
      registry::ClientOptions o = a->flags.options(ctx.root());
      o.creds = registry::Credentials{a->user, a->password};
      registry::Client c(host, o);
      c.ping();
      registry::Request r;
      r.target = "/v2/";
      registry::Response resp = c.send(r);
      if (resp.status == 401 || resp.status == 403)
        throw Error("login " + host + ": unauthorized: the registry refused the credentials of '" + a->user + "'");
      if (resp.status != 200) c.fail(r, resp, "login " + host);
      registry::store_credentials(host, *o.creds);
      std::printf("Login Succeeded\n");
      return 0;
    };
  });

  auto host = std::make_shared<std::string>();
  auto* out = app.add_subcommand("logout", "Forget the credentials for a registry: hvrun logout HOST");
  out->add_option("host", *host, "Registry host[:port]")->required();
  out->callback([&action, host] {
    action = [host]() -> int {
      std::string h = host_arg(*host);
      if (!registry::remove_credentials(h)) throw Error("logout: not logged in to " + h);
      std::printf("Removing login credentials for %s\n", h.c_str());
      return 0;
    };
  });
}

}  // namespace hvrun::cli
