#include "container/seccomp.hpp"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <map>
#include <mutex>
#include <optional>
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

// --- On-disk cache of compiled programs -------------------------------------
// libseccomp needs 15-20 ms to compile the default profile; loading the
// exported BPF from a file takes microseconds. One file per key:
//   <dir>/<fnv64(key) hex>.bpf = CacheHeader, key bytes, sock_filter[insns]
// The key is the full text of everything the program depends on (our format
// version, libseccomp version, native arch, kernel release for minKernel
// rules, capability set, profile text) and is compared byte for byte on load,
// so a hash collision can only cost a recompile. The directory must be ours
// (owner = euid, no group/other write); anything odd means "compile".

constexpr char kCacheMagic[8] = {'H', 'V', 'S', 'C', 'M', 'P', '0', '1'};

struct CacheHeader {
  char magic[8];
  uint32_t key_len;
  uint32_t insn_count;
  uint64_t checksum;  // fnv64 over key bytes then instructions
};

uint64_t fnv64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

std::string cache_key(const std::string& profile, CapSet caps) {
  const scmp_version* v = seccomp_version();
  utsname u{};
  ::uname(&u);
  char head[256];
  std::snprintf(head, sizeof head, "hvrun seccomp cache 1\nlibseccomp %u.%u.%u\narch %u\nkernel %s\ncaps %016llx\n",
                v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0, seccomp_arch_native(), u.release,
                static_cast<unsigned long long>(caps));
  return head + profile;
}

std::string cache_file_name(const std::string& key) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.bpf", static_cast<unsigned long long>(fnv64(key.data(), key.size())));
  return name;
}

bool owned_and_private(int fd, bool want_dir) {
  struct stat st {};
  if (::fstat(fd, &st) < 0) return false;
  if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) return false;
  return st.st_uid == ::geteuid() && (st.st_mode & 022) == 0;
}

// Opens (creating when asked) the cache directory; -1 when unusable.
UniqueFd open_cache_dir(const std::string& dir, bool create) {
  if (dir.empty() || dir.front() != '/') return {};
  if (create) {
    for (size_t pos = 1; pos != std::string::npos;) {
      pos = dir.find('/', pos + 1);
      ::mkdir(dir.substr(0, pos).c_str(), 0700);  // EEXIST or a failure: the open below decides
    }
  }
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd && !owned_and_private(fd.get(), true)) fd.reset();
  return fd;
}

bool read_exact(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

// The cached program for `key`, or nothing (missing, foreign, torn, corrupt).
std::optional<SeccompProgram> cache_load(const std::string& dir, const std::string& key) {
  UniqueFd d = open_cache_dir(dir, false);
  if (!d) return std::nullopt;
  UniqueFd f(::openat(d.get(), cache_file_name(key).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!f || !owned_and_private(f.get(), false)) return std::nullopt;
  struct stat st {};
  CacheHeader h{};
  if (::fstat(f.get(), &st) < 0 || !read_exact(f.get(), &h, sizeof h)) return std::nullopt;
  if (std::memcmp(h.magic, kCacheMagic, sizeof kCacheMagic) != 0 || h.key_len != key.size() || h.insn_count == 0 ||
      h.insn_count > BPF_MAXINSNS ||
      uint64_t(st.st_size) != sizeof h + uint64_t(h.key_len) + uint64_t(h.insn_count) * sizeof(sock_filter))
    return std::nullopt;
  std::string stored(h.key_len, '\0');
  SeccompProgram prog{std::vector<sock_filter>(h.insn_count)};
  if (!read_exact(f.get(), stored.data(), stored.size()) || stored != key ||
      !read_exact(f.get(), prog.insns.data(), prog.insns.size() * sizeof(sock_filter)))
    return std::nullopt;
  uint64_t sum = fnv64(prog.insns.data(), prog.insns.size() * sizeof(sock_filter), fnv64(key.data(), key.size()));
  if (sum != h.checksum) return std::nullopt;
  return prog;
}

// Best effort: a cache that cannot be written just means compiling next time.
void cache_store(const std::string& dir, const std::string& key, const SeccompProgram& prog) {
  if (prog.insns.empty() || prog.insns.size() > BPF_MAXINSNS) return;
  UniqueFd d = open_cache_dir(dir, true);
  if (!d) return;
  CacheHeader h{};
  std::memcpy(h.magic, kCacheMagic, sizeof kCacheMagic);
  h.key_len = uint32_t(key.size());
  h.insn_count = uint32_t(prog.insns.size());
  size_t code_bytes = prog.insns.size() * sizeof(sock_filter);
  h.checksum = fnv64(prog.insns.data(), code_bytes, fnv64(key.data(), key.size()));
  std::string data(reinterpret_cast<const char*>(&h), sizeof h);
  data += key;
  data.append(reinterpret_cast<const char*>(prog.insns.data()), code_bytes);

  std::string name = cache_file_name(key);
  std::string tmp = name + ".tmp." + std::to_string(::getpid());
  UniqueFd f(::openat(d.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!f) return;
  bool ok = ::write(f.get(), data.data(), data.size()) == ssize_t(data.size());
  f.reset();
  if (!ok || ::renameat(d.get(), tmp.c_str(), d.get(), name.c_str()) < 0) ::unlinkat(d.get(), tmp.c_str(), 0);
}

}  // namespace

const char* const kSeccompCacheDir = "/run/hvrun/seccomp";

SeccompProgram compile_seccomp(const std::string& profile, CapSet caps) {
  return compile_seccomp(profile, caps, kSeccompCacheDir);
}

SeccompProgram compile_seccomp(const Seccomp& choice, CapSet caps) {
  return compile_seccomp(choice.to_string(), caps, kSeccompCacheDir);
}

SeccompProgram compile_seccomp(const std::string& profile, CapSet caps, const std::string& cache_dir) {
  const Seccomp choice = Seccomp::from_string(profile);
  if (choice.mode == SeccompMode::Unconfined) return {};
  const std::string& text = choice.mode == SeccompMode::Default  ? default_seccomp_profile()
                            : choice.mode == SeccompMode::Strict ? strict_seccomp_profile()
                                                                 : profile;
  // In-process memo of our built-in profiles (guest-init and tests start many
  // containers); a caller naming its own cache directory always goes to disk.
  static std::mutex mu;
  static std::map<std::pair<const std::string*, CapSet>, SeccompProgram> memo;
  bool memoize = (&text == &default_seccomp_profile() || &text == &strict_seccomp_profile() ||
                  &text == &mount_guard_profile()) &&
                 cache_dir == kSeccompCacheDir;
  const std::pair<const std::string*, CapSet> memo_key{&text, caps};
  if (memoize) {
    std::lock_guard lock(mu);
    if (auto it = memo.find(memo_key); it != memo.end()) return it->second;
  }
  std::string key = cache_key(text, caps);
  std::optional<SeccompProgram> prog = cache_dir.empty() ? std::nullopt : cache_load(cache_dir, key);
  if (!prog) {
    prog = compile_json(text, caps);
    if (!cache_dir.empty()) cache_store(cache_dir, key, *prog);
  }
  if (memoize) {
    std::lock_guard lock(mu);
    memo.emplace(memo_key, *prog);
  }
  return *prog;
}

void load_seccomp(const SeccompProgram& prog) {
  if (prog.empty()) return;
  sock_fprog fprog{static_cast<unsigned short>(prog.insns.size()), const_cast<sock_filter*>(prog.insns.data())};
  check_sys(::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0), "prctl(PR_SET_SECCOMP)");
}

}  // namespace hvrun::container
