// Named volumes: hvrun volume, -v NAME:/path, --mount, Docker's copy-up,
// the in-use rule, and a tenant's volumes over the API.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

class Volumes : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
  int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
  static std::string slurp(const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
};

TEST_F(Volumes, DataWrittenToANamedVolumeOutlivesItsContainerAndIsSharedByTheNext) {
  ASSERT_EQ(hv({"volume", "create", "--label", "team=a", "data"}).out, "data\n");
  EXPECT_EQ(hv({"volume", "create", "data"}).code, 0) << "create of an existing volume is not idempotent";
  ASSERT_EQ(hv({"run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f"}).code, 0);
  Result r = hv({"run", "--rm", "--mount", "type=volume,source=data,target=/d,readonly", "busybox", "sh", "-c",
                 "cat /d/f; touch /d/x 2>&1 | grep -c Read-only"});
  EXPECT_EQ(r.out, "kept\n1\n") << r.err;
  // -v NAME makes a volume that does not exist yet (Docker's).
  ASSERT_EQ(hv({"run", "--rm", "-v", "made-by-run:/m", "busybox", "true"}).code, 0);
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "data\nmade-by-run\n");
  Result i = hv({"volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels}} {{.Mountpoint}}", "data"});
  EXPECT_EQ(i.out, "data local map[team:a] " + root() + "/volumes/data/_data\n") << i.err;
  EXPECT_EQ(slurp(root() + "/volumes/data/_data/f"), "kept\n");
}

TEST_F(Volumes, ANewVolumeIsFilledWithWhatTheImageHoldsAtItsTargetAndAnEmptyOneOnly) {
  // A two-layer image (its /app from a commit): the layers are merged as the container sees them.
  ASSERT_EQ(hv({"run", "--name", "maker", "busybox", "sh", "-c",
                "mkdir -p /app/sub && echo one > /app/a && echo two > /app/sub/b && chmod 700 /app/sub && "
                "chown 65534 /app/a && ln -s /etc/shadow /app/link && rm /etc/group"})
                .code,
            0);
  ASSERT_EQ(hv({"commit", "maker", "app:1"}).code, 0);
  Result r = hv({"run", "--rm", "-v", "appdata:/app", "app:1", "sh", "-c",
                 "cat /app/a /app/sub/b; stat -c '%a %u' /app/sub /app/a; readlink /app/link"});
  EXPECT_EQ(r.out, "one\ntwo\n700 0\n644 65534\n/etc/shadow\n") << r.err;
  // The copy is the volume's own: the image's symlink was kept as a link, not followed on the host.
  struct stat st;
  ASSERT_EQ(::lstat((root() + "/volumes/appdata/_data/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  // A volume that holds something is not filled again.
  ASSERT_EQ(hv({"run", "--rm", "-v", "appdata:/app", "app:1", "sh", "-c", "rm /app/a; echo mine > /app/new"}).code, 0);
  EXPECT_EQ(hv({"run", "--rm", "-v", "appdata:/app", "app:1", "ls", "/app"}).out, "link\nnew\nsub\n");
  // A target the image does not have: an empty volume; a whited-out file is not copied.
  EXPECT_EQ(hv({"run", "--rm", "-v", "fresh:/nothing-here", "app:1", "ls", "-A", "/nothing-here"}).out, "");
  EXPECT_EQ(hv({"run", "--rm", "-v", "etc:/etc", "app:1", "ls", "/etc"}).out.find("group"), std::string::npos);
  EXPECT_EQ(hv({"rm", "maker"}).code, 0);
}

TEST_F(Volumes, AVolumeInUseIsNotRemovedAndPruneTakesOnlyUnusedOnes) {
  ASSERT_EQ(hv({"create", "--name", "holder", "-v", "held:/h", "busybox", "true"}).code, 0);
  ASSERT_EQ(hv({"volume", "create", "loose"}).code, 0);
  Result rm = hv({"volume", "rm", "held"});
  EXPECT_EQ(rm.code, 125);
  EXPECT_EQ(count_lines(rm.err), 1) << rm.err;
  EXPECT_NE(rm.err.find("volume held is in use by container "), std::string::npos) << rm.err;
  Result prune = hv({"volume", "prune", "-f"});
  EXPECT_NE(prune.out.find("Deleted Volumes:\nloose\n"), std::string::npos) << prune.out;
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "held\n");
  Result insp = hv({"inspect", "-f", "{{json .Mounts}}", "holder"});
  const auto mounts = nlohmann::json::parse(insp.out, nullptr, false);
  ASSERT_TRUE(mounts.is_array() && mounts.size() == 1) << insp.out << insp.err;
  EXPECT_EQ(mounts[0]["Type"], "volume");
  EXPECT_EQ(mounts[0]["Name"], "held");
  EXPECT_EQ(mounts[0]["Destination"], "/h");
  ASSERT_EQ(hv({"rm", "holder"}).code, 0);
  EXPECT_EQ(hv({"volume", "rm", "held"}).out, "held\n");
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "");
  EXPECT_FALSE(std::filesystem::exists(root() + "/volumes/held"));
}

TEST_F(Volumes, AnonymousVolumesFromDashVMountAndTheImagesVolumeGoWithRmDashVOrDashDashRmOnly) {
  auto volumes = [&] { return hv({"volume", "ls", "-q"}).out; };
  // -v /data: a volume of its own under a random name, labelled anonymous.
  ASSERT_EQ(hv({"run", "--name", "a", "-v", "/data", "busybox", "sh", "-c", "echo a > /data/f"}).code, 0);
  const std::string first = volumes();
  ASSERT_EQ(first.size(), 65u) << first;
  const std::string anon = first.substr(0, 64);
  const auto mounts = nlohmann::json::parse(hv({"inspect", "-f", "{{json .Mounts}}", "a"}).out, nullptr, false);
  ASSERT_TRUE(mounts.is_array() && mounts.size() == 1) << mounts;
  EXPECT_EQ(mounts[0]["Type"], "volume");
  EXPECT_EQ(mounts[0]["Name"], anon);
  EXPECT_EQ(mounts[0]["Destination"], "/data");
  EXPECT_EQ(hv({"volume", "inspect", "-f", "{{.Labels}}", anon}).out, "map[com.docker.volume.anonymous:]\n");
  EXPECT_EQ(slurp(root() + "/volumes/" + anon + "/_data/f"), "a\n");
  // rm without -v leaves it (Docker's); rm -v takes a container's anonymous volumes, never a named one.
  ASSERT_EQ(hv({"rm", "a"}).code, 0);
  EXPECT_EQ(volumes(), first);
  ASSERT_EQ(hv({"run", "--name", "b", "-v", "/x", "--mount", "type=volume,target=/y", "-v", "keep:/k", "busybox", "true"}).code, 0);
  EXPECT_EQ(count_lines(volumes()), 4) << volumes();
  ASSERT_EQ(hv({"rm", "-v", "b"}).code, 0);
  std::vector<std::string> left{anon, "keep"};
  std::sort(left.begin(), left.end());
  EXPECT_EQ(volumes(), left[0] + "\n" + left[1] + "\n");
  // --rm takes them along.
  EXPECT_EQ(hv({"run", "--rm", "-v", "/data", "busybox", "sh", "-c", "echo tmp > /data/f; cat /data/f"}).out, "tmp\n");
  EXPECT_EQ(count_lines(volumes()), 2);
  // A failed create (its name taken) leaves no volume behind.
  ASSERT_EQ(hv({"create", "--name", "taken", "busybox", "true"}).code, 0);
  EXPECT_EQ(hv({"run", "--name", "taken", "-v", "/data", "busybox", "true"}).code, 125);
  EXPECT_EQ(count_lines(volumes()), 2);
  // The image's VOLUME: an anonymous volume filled from the image, unless
  // the container mounts something else there.
  ASSERT_EQ(hv({"run", "--name", "maker", "busybox", "sh", "-c", "mkdir /app && echo from-image > /app/x"}).code, 0);
  ASSERT_EQ(hv({"commit", "-c", "VOLUME /app", "maker", "withvol:1"}).code, 0);
  ASSERT_EQ(hv({"run", "--name", "c", "withvol:1", "sh", "-c", "cat /app/x; echo mine > /app/y"}).out, "from-image\n");
  EXPECT_EQ(count_lines(volumes()), 3);
  const auto cm = nlohmann::json::parse(hv({"inspect", "-f", "{{json .Mounts}}", "c"}).out, nullptr, false);
  ASSERT_TRUE(cm.is_array() && cm.size() == 1) << cm;
  EXPECT_EQ(cm[0]["Type"], "volume");
  EXPECT_EQ(cm[0]["Destination"], "/app");
  // A named volume there instead (filled from the image while empty, as any new volume is).
  EXPECT_EQ(hv({"run", "--rm", "-v", "keep:/app", "withvol:1", "ls", "-A", "/app"}).out, "x\n");
  EXPECT_EQ(hv({"run", "--rm", "--tmpfs", "/app", "withvol:1", "ls", "-A", "/app"}).out, "");
  EXPECT_EQ(hv({"run", "--rm", "withvol:1", "ls", "/app"}).out, "x\n");
  EXPECT_EQ(count_lines(volumes()), 3) << volumes();
  ASSERT_EQ(hv({"rm", "-v", "c", "maker", "taken"}).code, 0);
  EXPECT_EQ(volumes(), left[0] + "\n" + left[1] + "\n");
}

TEST_F(Volumes, BadVolumeAndMountValuesGetOneLineErrorsAndMakeNothing) {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"volume", "create", "b@d"}, "invalid volume name \"b@d\""},
      {{"volume", "rm", "nosuch"}, "no such volume: nosuch"},
      {{"volume", "inspect", "nosuch"}, "no such volume: nosuch"},
      {{"run", "-v", "bad name:/x", "busybox", "true"}, "is neither an absolute host path nor a volume name"},
      {{"run", "--mount", "type=volume,target=x", "busybox", "true"}, "target= must be an absolute container path"},
      {{"run", "-v", "data", "busybox", "true"}, "expected HOST:CONTAINER[:ro|rw] or an absolute CONTAINER path"},
      {{"run", "--mount", "type=bind,source=rel,target=/x", "busybox", "true"}, "a bind needs an absolute source="},
      {{"run", "--mount", "type=volume,source=v", "busybox", "true"}, "target= is required"},
      {{"run", "--mount", "type=nfs,source=v,target=/x", "busybox", "true"}, "type=nfs is not supported"},
      {{"run", "--mount", "type=tmpfs,source=v,target=/x", "busybox", "true"}, "a tmpfs has no source="},
      {{"run", "--mount", "type=volume,source=v,target=/x,colour=red", "busybox", "true"}, "unknown field \"colour\""},
      {{"run", "--mount", "type=bind,source=/tmp,target=/x,bind-propagation=shared", "busybox", "true"},
       "bind-propagation=shared is not supported"},
  };
  for (const auto& c : cases) {
    Result r = hv(c.args);
    EXPECT_EQ(r.code, 125) << c.args[1] << " " << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
    EXPECT_LE(count_lines(r.err), 2) << r.err;
  }
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "");
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
  // --mount's tmpfs and bind forms.
  Result t = hv({"run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=1048576,tmpfs-mode=700", "--mount",
                 "type=bind,src=/etc,dst=/hostetc,ro", "busybox", "sh", "-c",
                 "grep ' /t ' /proc/mounts | cut -d' ' -f4; test -f /hostetc/hostname && echo bound; touch /hostetc/x 2>/dev/null || echo ro"});
  EXPECT_EQ(t.out, "rw,nosuid,nodev,noexec,relatime,size=1024k,mode=700\nbound\nro\n") << t.err;
}

}  // namespace
}  // namespace hvrun::test
