#include "container/seccomp.hpp"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::container {
namespace {

using json = nlohmann::json;

struct Ctx {
  scmp_filter_ctx ctx = nullptr;
  ~Ctx() {
    if (ctx) seccomp_release(ctx);
  }
};

uint32_t parse_action(const std::string& name, int errno_ret, const std::string& where) {
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(uint16_t(errno_ret));
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(uint16_t(errno_ret));
  throw Error("seccomp profile: unknown action \"" + name + "\" in " + where);
}

scmp_compare parse_op(const std::string& op) {
  if (op == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (op == "SCMP_CMP_LT") return SCMP_CMP_LT;
  if (op == "SCMP_CMP_LE") return SCMP_CMP_LE;
  if (op == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (op == "SCMP_CMP_GE") return SCMP_CMP_GE;
  if (op == "SCMP_CMP_GT") return SCMP_CMP_GT;
  if (op == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  throw Error("seccomp profile: unknown comparison \"" + op + "\"");
}

uint32_t parse_arch(const std::string& a) {
  std::string n = a;
  if (n.rfind("SCMP_ARCH_", 0) == 0) n = n.substr(10);
  static const std::map<std::string, uint32_t> arches = {
      {"X86_64", SCMP_ARCH_X86_64}, {"AMD64", SCMP_ARCH_X86_64},   {"X86", SCMP_ARCH_X86},
      {"X32", SCMP_ARCH_X32},       {"AARCH64", SCMP_ARCH_AARCH64}, {"ARM64", SCMP_ARCH_AARCH64},
      {"ARM", SCMP_ARCH_ARM},
  };
  for (auto& c : n) c = char(std::toupper(static_cast<unsigned char>(c)));
  auto it = arches.find(n);
  return it == arches.end() ? 0 : it->second;
}

// Docker's short arch names used in includes/excludes.arches.
bool arch_matches_native(const std::string& short_name) {
  uint32_t native = seccomp_arch_native();
  uint32_t a = parse_arch(short_name);
  return a == native;
}

bool caps_match(const json& list, CapSet caps) {
  for (auto& c : list) {
    int n = capability_from_name(c.get<std::string>());
    if (!(caps & (CapSet(1) << n))) return false;
  }
  return true;
}

// "5.8" <= running kernel? Unparsable versions never match.
bool kernel_at_least(const std::string& want) {
  static const std::pair<int, int> running = [] {
    utsname u{};
    ::uname(&u);
    int a = 0, b = 0;
    std::sscanf(u.release, "%d.%d", &a, &b);
    return std::pair{a, b};
  }();
  int a = -1, b = 0;
  if (std::sscanf(want.c_str(), "%d.%d", &a, &b) < 1 || a < 0) return false;
  return running >= std::pair{a, b};
}

// Docker's include/exclude filters: all listed caps/arches must be present
// for "includes"; any listed one present excludes the rule.
bool rule_applies(const json& rule, CapSet caps) {
  if (auto inc = rule.find("includes"); inc != rule.end() && inc->is_object()) {
    if (auto k = inc->find("minKernel"); k != inc->end() && k->is_string() && !kernel_at_least(k->get<std::string>()))
      return false;
    if (auto c = inc->find("caps"); c != inc->end() && !c->empty() && !caps_match(*c, caps)) return false;
    if (auto a = inc->find("arches"); a != inc->end() && !a->empty()) {
      bool any = false;
      for (auto& x : *a) any = any || arch_matches_native(x.get<std::string>());
      if (!any) return false;
    }
  }
  if (auto exc = rule.find("excludes"); exc != rule.end() && exc->is_object()) {
    if (auto c = exc->find("caps"); c != exc->end())
      for (auto& x : *c)
        if (caps & (CapSet(1) << capability_from_name(x.get<std::string>()))) return false;
    if (auto a = exc->find("arches"); a != exc->end())
      for (auto& x : *a)
        if (arch_matches_native(x.get<std::string>())) return false;
  }
  return true;
}

std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx) {
  UniqueFd mem(::memfd_create("hvrun-seccomp", MFD_CLOEXEC));
  if (!mem) throw_sys("memfd_create");
  int rc = seccomp_export_bpf(ctx, mem.get());
  if (rc < 0) throw_sys("seccomp_export_bpf", -rc);
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size < 0 || size % sizeof(sock_filter)) throw Error("seccomp_export_bpf: unexpected program size");
  std::vector<sock_filter> out(size_t(size) / sizeof(sock_filter));
  if (::pread(mem.get(), out.data(), size_t(size), 0) != size) throw_sys("read seccomp program");
  return out;
}

SeccompProgram compile_json(const std::string& text, CapSet caps) {
  json p;
  try {
    p = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(std::string("seccomp profile: malformed JSON: ") + e.what());
  }
  try {
    if (!p.is_object()) throw Error("seccomp profile: not a JSON object");
    int default_errno = p.value("defaultErrnoRet", 1);
    uint32_t def = parse_action(p.value("defaultAction", std::string()), default_errno, "defaultAction");
    Ctx c;
    c.ctx = seccomp_init(def);
    if (!c.ctx) throw Error("seccomp_init failed");
    // We set no_new_privs ourselves, at the right moment.
    seccomp_attr_set(c.ctx, SCMP_FLTATR_CTL_NNP, 0);

    std::vector<uint32_t> arches;
    if (auto m = p.find("archMap"); m != p.end() && m->is_array()) {
      for (auto& e : *m) {
        if (parse_arch(e.value("architecture", std::string())) != seccomp_arch_native()) continue;
        for (auto& s : e.value("subArchitectures", json::array())) arches.push_back(parse_arch(s.get<std::string>()));
      }
    }
    if (auto a = p.find("architectures"); a != p.end() && a->is_array())
      for (auto& s : *a) arches.push_back(parse_arch(s.get<std::string>()));
    for (uint32_t a : arches) {
      if (a == 0 || a == seccomp_arch_native()) continue;
      int rc = seccomp_arch_add(c.ctx, a);
      if (rc < 0 && rc != -EEXIST) throw Error("seccomp_arch_add failed", -rc);
    }

    if (auto sc = p.find("syscalls"); sc != p.end()) {
      if (!sc->is_array()) throw Error("seccomp profile: \"syscalls\" is not an array");
      for (auto& rule : *sc) {
        if (!rule.is_object()) throw Error("seccomp profile: a syscalls entry is not an object");
        if (!rule_applies(rule, caps)) continue;
        std::vector<std::string> names;
        if (rule.contains("names")) names = rule.at("names").get<std::vector<std::string>>();
        if (rule.contains("name")) names.push_back(rule.at("name").get<std::string>());
        std::string where = names.empty() ? "a rule" : names.front();
        uint32_t action = parse_action(rule.value("action", std::string()), rule.value("errnoRet", default_errno), where);
        if (action == def) continue;  // libseccomp refuses rules equal to the default
        std::vector<scmp_arg_cmp> cmps;
        for (auto& a : rule.value("args", json::array())) {
          unsigned idx = a.at("index").get<unsigned>();
          if (idx > 5) throw Error("seccomp profile: argument index out of range for " + where);
          cmps.push_back(scmp_arg_cmp{idx, parse_op(a.at("op").get<std::string>()), a.value("value", uint64_t(0)),
                                      a.value("valueTwo", uint64_t(0))});
        }
        // libseccomp cannot compare one argument twice in a rule: several
        // conditions on the same index mean "any of them" (Docker's rule).
        bool same_index = cmps.size() > 1;
        for (auto& x : cmps) same_index = same_index && x.arg == cmps.front().arg;
        for (auto& n : names) {
          int nr = seccomp_syscall_resolve_name(n.c_str());
          if (nr == __NR_SCMP_ERROR) continue;  // unknown on this arch/libseccomp: skipped, as Docker does
          int rc = 0;
          if (same_index) {
            for (auto& x : cmps) {
              rc = seccomp_rule_add_array(c.ctx, action, nr, 1, &x);
              if (rc < 0) break;
            }
          } else {
            rc = seccomp_rule_add_array(c.ctx, action, nr, unsigned(cmps.size()), cmps.data());
          }
          if (rc < 0) throw Error("seccomp rule for " + n + " rejected by libseccomp", -rc);
        }
      }
    }
    return SeccompProgram{export_bpf(c.ctx)};
  } catch (const json::exception& e) {
    throw Error(std::string("seccomp profile: ") + e.what());
  }
}

}  // namespace

SeccompProgram compile_seccomp(const std::string& profile, CapSet caps) {
  if (profile == "unconfined") return {};
  if (profile.empty() || profile == "default") {
    static std::mutex mu;
    static std::map<CapSet, SeccompProgram> cache;
    std::lock_guard lock(mu);
    auto it = cache.find(caps);
    if (it == cache.end()) it = cache.emplace(caps, compile_json(default_seccomp_profile(), caps)).first;
    return it->second;
  }
  return compile_json(profile, caps);
}

void load_seccomp(const SeccompProgram& prog) {
  if (prog.empty()) return;
  sock_fprog fprog{static_cast<unsigned short>(prog.insns.size()), const_cast<sock_filter*>(prog.insns.data())};
  check_sys(::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0), "prctl(PR_SET_SECCOMP)");
}

}  // namespace hvrun::container
