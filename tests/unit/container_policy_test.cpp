// The pure parts of the container stack: user resolution, capability
// resolution, and the seccomp profiles compiled and loaded into a throwaway
// child process (so the test binary itself stays unconfined).
#include <gtest/gtest.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>

#include "container/capabilities.hpp"
#include "container/seccomp.hpp"
#include "container/user.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::container {
namespace {

const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# comment\n"
    "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
    "bob:x:1001:100::/home/bob:/bin/sh\n"
    "broken line\n";
const char* kGroup =
    "root:x:0:\n"
    "users:x:100:alice\n"
    "alice:x:1000:\n"
    "wheel:x:10:alice,bob\n"
    "audio:x:29:bob\n";

TEST(ContainerUser, EmptySpecIsRootWithRootsHome) {
  auto u = resolve_user("", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 0u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_EQ(u.home, "/root");
}

TEST(ContainerUser, NameResolvesUidGidAndSupplementaryGroups) {
  auto u = resolve_user("alice", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 1000u);
  EXPECT_EQ(u.groups, (std::vector<gid_t>{100, 10}));
  EXPECT_EQ(u.home, "/home/alice");
}

TEST(ContainerUser, ExplicitGroupByNameOrNumberOverridesThePrimaryGroup) {
  EXPECT_EQ(resolve_user("bob:audio", kPasswd, kGroup).gid, 29u);
  EXPECT_EQ(resolve_user("bob:4242", kPasswd, kGroup).gid, 4242u);
  EXPECT_EQ(resolve_user("1001", kPasswd, kGroup).gid, 100u);
}

TEST(ContainerUser, UnknownNumericUidIsAllowedWithGidZero) {
  auto u = resolve_user("5000", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 5000u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_TRUE(u.groups.empty());
}

TEST(ContainerUser, UnknownNamesAndEmptyPartsAreErrors) {
  EXPECT_THROW(resolve_user("mallory", kPasswd, kGroup), Error);
  EXPECT_THROW(resolve_user("alice:nogroup", kPasswd, kGroup), Error);
  EXPECT_THROW(resolve_user("alice:", kPasswd, kGroup), Error);
  EXPECT_THROW(resolve_user(":10", kPasswd, kGroup), Error);
  EXPECT_THROW(resolve_user("alice", "", ""), Error);
}

TEST(ContainerCapabilities, DockerDefaultMaskIs0xa80425fb) { EXPECT_EQ(default_capabilities(), 0xa80425fbull); }

TEST(ContainerCapabilities, NamesWithOrWithoutPrefixAnyCase) {
  EXPECT_EQ(capability_from_name("NET_ADMIN"), 12);
  EXPECT_EQ(capability_from_name("CAP_SYS_ADMIN"), 21);
  EXPECT_EQ(capability_from_name("sys_ptrace"), 19);
  EXPECT_THROW(capability_from_name("FLY"), Error);
}

TEST(ContainerCapabilities, AddDropAndAllFollowDocker) {
  EXPECT_EQ(resolve_capabilities({}, {}), default_capabilities());
  EXPECT_EQ(resolve_capabilities({"ALL"}, {}), all_capabilities());
  EXPECT_EQ(resolve_capabilities({"ALL"}, {"NET_RAW"}), all_capabilities() & ~(1ull << 13));
  EXPECT_EQ(resolve_capabilities({"SYS_ADMIN"}, {"ALL"}), 1ull << 21);
  EXPECT_EQ(resolve_capabilities({}, {"ALL"}), 0u);
  EXPECT_EQ(resolve_capabilities({"cap_sys_time"}, {"KILL"}), (default_capabilities() | 1ull << 25) & ~(1ull << 5));
}

// Runs `body` in a forked child under the filter; returns the child's exit code.
int run_filtered(const SeccompProgram& prog, const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    try {
      load_seccomp(prog);
    } catch (...) {
      ::_exit(200);
    }
    ::_exit(body());
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int errno_of(long rc) { return rc < 0 ? errno : 0; }

TEST(ContainerSeccomp, DefaultProfileBlocksDangerousSyscallsWithEperm) {
  auto prog = compile_seccomp("default", default_capabilities());
  ASSERT_FALSE(prog.empty());
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_keyctl, 0, 0, 0, 0, 0)); }), EPERM);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_add_key, 0, 0, 0, 0, 0)); }), EPERM);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::unshare(CLONE_NEWUTS)); }), EPERM);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_bpf, 0, 0, 0)); }), EPERM);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_mount, "x", "/y", "tmpfs", 0, 0)); }), EPERM);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_umount2, "/", 0)); }), EPERM);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_reboot, 0, 0, 0, 0)); }), EPERM);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_kexec_load, 0, 0, 0, 0)); }), EPERM);
}

TEST(ContainerSeccomp, DefaultProfileAllowsOrdinarySyscallsAndPlainClone) {
  auto prog = compile_seccomp("default", default_capabilities());
  EXPECT_EQ(run_filtered(prog, [] { return ::getpid() > 0 && ::getppid() > 0 ? 0 : 1; }), 0);
  EXPECT_EQ(run_filtered(prog,
                         [] {
                           pid_t p = ::fork();  // glibc fork is clone(SIGCHLD): no namespace flags
                           if (p == 0) ::_exit(7);
                           int st;
                           ::waitpid(p, &st, 0);
                           return WEXITSTATUS(st);
                         }),
            7);
  // clone with a namespace flag is refused.
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0)); }), EPERM);
}

TEST(ContainerSeccomp, SocketIsAllowedExceptVsock) {
  auto prog = compile_seccomp("default", default_capabilities());
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::socket(AF_UNIX, SOCK_STREAM, 0)); }), 0);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::socket(AF_VSOCK, SOCK_STREAM, 0)); }), EPERM);
}

TEST(ContainerSeccomp, Clone3AnswersEnosysSoLibcFallsBack) {
  auto prog = compile_seccomp("default", default_capabilities());
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_clone3, nullptr, 0)); }), ENOSYS);
}

TEST(ContainerSeccomp, PersonalityOnlyForTheHarmlessValues) {
  auto prog = compile_seccomp("default", default_capabilities());
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::personality(0xffffffff)); }), 0);  // query
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::personality(PER_LINUX)); }), 0);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::personality(READ_IMPLIES_EXEC)); }), EPERM);
}

TEST(ContainerSeccomp, CapSysAdminUnlocksUnshareAndClone3) {
  auto prog = compile_seccomp("default", default_capabilities() | (1ull << 21));
  if (::geteuid() != 0) GTEST_SKIP() << "unshare(CLONE_NEWUTS) needs root";
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::unshare(CLONE_NEWUTS)); }), 0);
  EXPECT_NE(run_filtered(prog, [] { return errno_of(::syscall(SYS_clone3, nullptr, 0)); }), ENOSYS);
}

bool kernel_at_least_4_8() {
  utsname u{};
  ::uname(&u);
  int a = 0, b = 0;
  std::sscanf(u.release, "%d.%d", &a, &b);
  return std::pair{a, b} >= std::pair{4, 8};
}

// PTRACE_TRACEME: harmless, and refused only by a filter.
long ptrace_traceme() { return ::syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0); }

TEST(ContainerSeccomp, DefaultProfileAllowsPtraceWithoutCapSysPtraceOnKernelsFrom4_8AsDockerDoes) {
  auto prog = compile_seccomp("default", default_capabilities());
  int want = kernel_at_least_4_8() ? 0 : EPERM;
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(ptrace_traceme()); }), want);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_process_vm_readv, ::getpid(), nullptr, 0UL, nullptr, 0UL, 0UL)); }), want);
  // Still behind CAP_SYS_PTRACE, as in moby's profile.
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::syscall(SYS_kcmp, ::getpid(), ::getpid(), 0, 0, 0)); }), EPERM);
}

TEST(ContainerSeccomp, StrictProfileAllowsPtraceOnlyWithCapSysPtrace) {
  auto strict = compile_seccomp("strict", default_capabilities());
  EXPECT_EQ(run_filtered(strict, [] { return errno_of(ptrace_traceme()); }), EPERM);
  EXPECT_EQ(run_filtered(strict, [] { return errno_of(::syscall(SYS_process_vm_readv, ::getpid(), nullptr, 0UL, nullptr, 0UL, 0UL)); }), EPERM);
  auto traced = compile_seccomp("strict", default_capabilities() | (1ull << 19));
  EXPECT_EQ(run_filtered(traced, [] { return errno_of(ptrace_traceme()); }), 0);
  // Otherwise the same as the default profile.
  EXPECT_EQ(run_filtered(strict, [] { return errno_of(::syscall(SYS_keyctl, 0, 0, 0, 0, 0)); }), EPERM);
  EXPECT_EQ(run_filtered(strict, [] { return ::getpid() > 0 ? 0 : 1; }), 0);
}

TEST(ContainerSeccomp, MountGuardRefusesEveryMountSyscallEvenToRootWithCapSysAdmin) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN) to show the guard, not the capability check, refuses";
  auto guard = compile_seccomp(mount_guard_profile(), 0);
  ASSERT_FALSE(guard.empty());
  // Without the guard, root gets ENOENT/EBADF/a file descriptor from these
  // (none of them changes anything); with it, EPERM.
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::syscall(SYS_umount2, "/no-such-dir-hvrun", 0)); }), EPERM);
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::syscall(SYS_mount, "none", "/no-such-dir-hvrun", "tmpfs", 0, nullptr)); }), EPERM);
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::syscall(SYS_pivot_root, "/no-such-dir-hvrun", "/no-such-dir-hvrun")); }), EPERM);
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::syscall(SYS_fsopen, "tmpfs", 0)); }), EPERM);
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::syscall(SYS_fspick, AT_FDCWD, "/", 0)); }), EPERM);
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::syscall(SYS_open_tree, AT_FDCWD, "/", 0)); }), EPERM);
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::syscall(SYS_fsconfig, -1, 0, nullptr, nullptr, 0)); }), EPERM);
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::syscall(SYS_fsmount, -1, 0, 0)); }), EPERM);
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::syscall(SYS_move_mount, -1, "", -1, "", 0)); }), EPERM);
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::syscall(SYS_mount_setattr, -1, "", 0, nullptr, 0)); }), EPERM);
  // Everything else passes, namespaces included.
  EXPECT_EQ(run_filtered(guard, [] { return errno_of(::unshare(CLONE_NEWUTS)); }), 0);
  EXPECT_EQ(run_filtered(guard, [] { return ::getpid() > 0 ? 0 : 1; }), 0);
  // The same calls unfiltered: the guard is what refused them.
  EXPECT_EQ(run_filtered(SeccompProgram{}, [] { return errno_of(::syscall(SYS_umount2, "/no-such-dir-hvrun", 0)); }), ENOENT);
  EXPECT_EQ(run_filtered(SeccompProgram{}, [] { return errno_of(::syscall(SYS_fsmount, -1, 0, 0)); }), EBADF);
}

TEST(ContainerSeccomp, UnconfinedIsNoFilter) { EXPECT_TRUE(compile_seccomp("unconfined", 0).empty()); }

TEST(ContainerSeccomp, CustomJsonProfileWithErrnoRetAndArgs) {
  const std::string profile = R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [
      {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
      {"names": ["dup"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7,
       "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
      {"names": ["no_such_syscall_name"], "action": "SCMP_ACT_ERRNO"}
    ]})";
  auto prog = compile_seccomp(profile, default_capabilities());
  char buf[256];
  EXPECT_EQ(run_filtered(prog, [&] { return ::getcwd(buf, sizeof buf) ? 0 : errno; }), EACCES);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::dup(2)); }), 7);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::dup(1)); }), 0);
}

TEST(ContainerSeccomp, RulesForNewerKernelsAreSkipped) {
  const std::string profile = R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
      {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "includes": {"minKernel": "99.0"}},
      {"names": ["dup"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7, "includes": {"minKernel": "3.10"}}
    ]})";
  auto prog = compile_seccomp(profile, default_capabilities());
  char buf[256];
  EXPECT_EQ(run_filtered(prog, [&] { return ::getcwd(buf, sizeof buf) ? 0 : errno; }), 0);
  EXPECT_EQ(run_filtered(prog, [] { return errno_of(::dup(1)); }), 7);
}

TEST(ContainerSeccomp, MalformedProfilesGiveClearErrors) {
  auto msg = [](const std::string& p) {
    try {
      compile_seccomp(p, 0);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg("{not json").find("seccomp profile: malformed JSON"), std::string::npos);
  EXPECT_NE(msg("[]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(msg(R"({"defaultAction": "SCMP_ACT_DANCE"})").find("unknown action \"SCMP_ACT_DANCE\""), std::string::npos);
  EXPECT_NE(msg(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}})").find("\"syscalls\" is not an array"),
            std::string::npos);
  EXPECT_NE(msg(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
              "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]})")
                .find("argument index out of range"),
            std::string::npos);
  EXPECT_NE(msg(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "read", "action": "SCMP_ACT_ERRNO"}]})")
                .find("seccomp profile:"),
            std::string::npos);
}


// --- The on-disk cache of compiled programs ---------------------------------

struct CacheDir {
  std::string path = "/tmp/hvrun-test-seccomp-cache-" + random_hex(6);
  ~CacheDir() { remove_all(path); }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    if (!is_dir(path)) return out;
    for (auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().string());
    return out;
  }
};

bool same_program(const SeccompProgram& a, const SeccompProgram& b) {
  return a.insns.size() == b.insns.size() &&
         std::memcmp(a.insns.data(), b.insns.data(), a.insns.size() * sizeof(sock_filter)) == 0;
}

TEST(ContainerSeccompCache, CachedProgramIsWrittenOnceAndEqualsAFreshCompile) {
  CacheDir dir;
  SeccompProgram fresh = compile_seccomp("default", default_capabilities(), "");
  SeccompProgram first = compile_seccomp("default", default_capabilities(), dir.path);
  ASSERT_EQ(dir.files().size(), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(dir.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::string file = dir.files().front();
  SeccompProgram second = compile_seccomp("default", default_capabilities(), dir.path);
  EXPECT_TRUE(same_program(fresh, first));
  EXPECT_TRUE(same_program(fresh, second));
  EXPECT_EQ(dir.files(), std::vector<std::string>{file});
  // Another capability set is another program, in another file.
  SeccompProgram admin = compile_seccomp("default", default_capabilities() | (1ull << 21), dir.path);
  EXPECT_FALSE(same_program(fresh, admin));
  EXPECT_EQ(dir.files().size(), 2u);
}

TEST(ContainerSeccompCache, ProgramLoadedFromTheCacheStillEnforcesTheProfile) {
  CacheDir dir;
  compile_seccomp("default", default_capabilities(), dir.path);
  SeccompProgram cached = compile_seccomp("default", default_capabilities(), dir.path);
  EXPECT_EQ(run_filtered(cached, [] { return errno_of(::syscall(SYS_keyctl, 0, 0, 0, 0, 0)); }), EPERM);
  EXPECT_EQ(run_filtered(cached, [] { return ::getpid() > 0 ? 0 : 1; }), 0);
}

TEST(ContainerSeccompCache, CorruptOrTruncatedEntriesAreRecompiledNotUsed) {
  CacheDir dir;
  SeccompProgram fresh = compile_seccomp("default", default_capabilities(), "");
  compile_seccomp("default", default_capabilities(), dir.path);
  std::string file = dir.files().front();
  std::string good = read_file(file);
  // One flipped bit in the last instruction; then a torn (truncated) file.
  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 1;
  for (const std::string& bad : {flipped, good.substr(0, good.size() - 4), std::string()}) {
    write_file_atomic(file, bad, 0600);
    EXPECT_TRUE(same_program(fresh, compile_seccomp("default", default_capabilities(), dir.path)));
    EXPECT_EQ(read_file(file), good) << "the bad entry was not replaced";
  }
}

TEST(ContainerSeccompCache, AnEntryForAnotherKeyUnderThisKeysNameIsNotUsed) {
  CacheDir dir;
  CapSet admin = default_capabilities() | (1ull << 21);
  compile_seccomp("default", default_capabilities(), dir.path);
  std::string plain_file = dir.files().front();
  compile_seccomp("default", admin, dir.path);
  std::string admin_file;
  for (auto& f : dir.files())
    if (f != plain_file) admin_file = f;
  ASSERT_FALSE(admin_file.empty());
  // The CAP_SYS_ADMIN program stored under the default capability set's name.
  write_file_atomic(plain_file, read_file(admin_file), 0600);
  SeccompProgram got = compile_seccomp("default", default_capabilities(), dir.path);
  EXPECT_TRUE(same_program(got, compile_seccomp("default", default_capabilities(), "")));
  EXPECT_FALSE(same_program(got, compile_seccomp("default", admin, "")));
}

TEST(ContainerSeccompCache, GroupWritableOrUncreatableDirectoryMeansCompileWithoutCaching) {
  CacheDir dir;
  mkdir_p(dir.path, 0700);
  ASSERT_EQ(::chmod(dir.path.c_str(), 0777), 0);
  SeccompProgram fresh = compile_seccomp("default", default_capabilities(), "");
  EXPECT_TRUE(same_program(fresh, compile_seccomp("default", default_capabilities(), dir.path)));
  EXPECT_TRUE(dir.files().empty()) << "wrote into a directory others can write";
  EXPECT_TRUE(same_program(fresh, compile_seccomp("default", default_capabilities(), "/proc/no-such-dir/seccomp")));
}

TEST(ContainerSeccompCache, MalformedProfilesStillFailWithACacheDirectory) {
  CacheDir dir;
  EXPECT_THROW(compile_seccomp("{not json", 0, dir.path), Error);
  EXPECT_THROW(compile_seccomp("{not json", 0, dir.path), Error);
  EXPECT_TRUE(dir.files().empty());
}

}  // namespace
}  // namespace hvrun::container
