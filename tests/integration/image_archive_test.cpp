// Image archives in and out (`hvrun save`, `hvrun load`, `hvrun image
// import` of podman's archives) against the real podman, and store
// housekeeping (`hvrun rmi`, `hvrun image prune`, `hvrun system df`).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/integration/harness.hpp"

using namespace hvrun::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// podman with a store of its own (vfs, runc, no systemd): nothing of the
// machine's podman state is read or changed.
class Podman {
 public:
  Result operator()(const std::vector<std::string>& args, int timeout_s = 120) const {
    std::vector<std::string> argv{"podman",          "--root",           dir_.path() + "/storage",
                                  "--runroot",       dir_.path() + "/run", "--tmpdir",
                                  dir_.path() + "/tmp", "--storage-driver", "vfs",
                                  "--runtime",       "runc",             "--cgroup-manager",
                                  "cgroupfs",        "--events-backend", "file"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, "", timeout_s);
  }
  // `podman run --rm` as this machine allows: podman asks for rlimits
  // (nofile, nproc 1048576) above the hard limits a container host may set.
  Result run_rm(const std::string& image, const std::vector<std::string>& cmd) const {
    std::vector<std::string> args{"run", "--rm", "--net", "none", "--ulimit", "nofile=1024:1024",
                                  "--ulimit", "nproc=1024:1024", image};
    args.insert(args.end(), cmd.begin(), cmd.end());
    return (*this)(args);
  }

 private:
  TempDir dir_;
};

Result sh(const std::string& script, const std::vector<std::string>& args = {}, int timeout_s = 120) {
  std::vector<std::string> argv{"sh", "-c", script, "sh"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, "", timeout_s);
}

// The busybox rootfs plus /etc/greeting (`text`), as a directory under `dir`.
std::string greeting_rootfs(const std::string& dir, const std::string& text) {
  std::string path = dir + "/rootfs-" + text;
  Result r = sh("cp -a \"$1\" \"$2\" && printf '%s\\n' \"$3\" > \"$2\"/etc/greeting", {busybox_rootfs(), path, text});
  EXPECT_EQ(r.code, 0) << r.err;
  return path;
}

// A podman image made with `podman import` of a busybox rootfs tar, with its
// own Cmd and Env: localhost/pm:1.
const char* kPodmanImage = "localhost/pm:1";
void make_podman_image(const Podman& pm, const std::string& dir) {
  std::string rootfs = greeting_rootfs(dir, "hello");
  Result t = sh("tar -C \"$1\" -cf \"$2\" .", {rootfs, dir + "/rootfs.tar"});
  ASSERT_EQ(t.code, 0) << t.err;
  Result r = pm({"import", "--change", "CMD [\"/bin/sh\", \"-c\", \"cat /etc/greeting\"]", "--change",
                 "ENV GREETING=from-podman", dir + "/rootfs.tar", kPodmanImage});
  ASSERT_EQ(r.code, 0) << r.err;
}

std::string podman_id(const Podman& pm, const std::string& ref) {
  Result r = pm({"image", "inspect", "--format", "{{.Id}}", ref});
  EXPECT_EQ(r.code, 0) << r.err;
  return trim(r.out);
}

json inspect1(const std::string& root, const std::string& ref) {
  Result r = hvrun::test::hvrun(root, {"image", "inspect", ref});
  EXPECT_EQ(r.code, 0) << r.err;
  if (r.code != 0) return json::object();
  json j = json::parse(r.out);
  EXPECT_EQ(j.size(), 1u);
  return j[0];
}

std::vector<std::string> tar_names(const std::string& tar) {
  Result r = run({"tar", "-tf", tar});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < r.out.size()) {
    size_t nl = r.out.find('\n', pos);
    out.push_back(r.out.substr(pos, nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::string listing(const std::string& dir) {
  std::vector<std::string> names;
  if (fs::exists(dir))
    for (auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  std::string s;
  for (auto& n : names) s += n + "\n";
  return s;
}

// Everything a failed command must leave as it was: ids, names, layers,
// image records, staging.
std::string snapshot(const std::string& root) {
  Result r = hvrun::test::hvrun(root, {"images", "-q"});
  std::string repos = fs::exists(root + "/repositories.json") ? json::parse(std::ifstream(root + "/repositories.json")).dump() : "";
  return r.out + "|" + repos + "|" + listing(root + "/layers") + "|" + listing(root + "/images") + "|" +
         listing(root + "/tmp");
}

size_t lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

std::string file_text(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The digest of the blob a layer keeps (what save and push send).
std::string kept_blob(const std::string& root, const std::string& diff_id) {
  return json::parse(file_text(root + "/layers/" + diff_id + "/layer.json"))["blob"]["digest"];
}

}  // namespace

class ImageArchive : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
};

// The bug: podman's docker-archive has its layers as <hex>.tar beside
// manifest.json, and was imported as a one-layer rootfs of those files.
TEST_F(ImageArchive, PodmanDockerArchiveImportsAsThePodmanImageNotAsARootfs) {
  TempDir t;
  Podman pm;
  make_podman_image(pm, t.path());
  std::string tar = t.path() + "/pm.tar";
  Result s = pm({"save", "--format", "docker-archive", "-o", tar, kPodmanImage});
  ASSERT_EQ(s.code, 0) << s.err;
  auto names = tar_names(tar);
  EXPECT_TRUE(std::any_of(names.begin(), names.end(),
                          [](const std::string& n) { return std::regex_match(n, std::regex("[0-9a-f]{64}\\.tar")); }))
      << "podman no longer writes <hex>.tar at the top; this test lost its point";

  Result r = hv({"image", "import", tar});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(trim(r.out), "sha256:" + podman_id(pm, kPodmanImage)) << "the image podman made, config and all";
  json j = inspect1(root(), kPodmanImage);
  EXPECT_EQ(j["Config"]["Cmd"], json({"/bin/sh", "-c", "cat /etc/greeting"}));
  EXPECT_NE(j["Config"]["Env"].dump().find("GREETING=from-podman"), std::string::npos) << j["Config"].dump();
  EXPECT_EQ(j["RootFS"]["Layers"].size(), 1u);
  Result run = hv({"run", "--rm", kPodmanImage});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "hello\n");
}

TEST_F(ImageArchive, AnArchiveOfImageEntriesWithoutManifestIsRefusedNeverImportedAsARootfs) {
  TempDir t;
  Podman pm;
  make_podman_image(pm, t.path());
  std::string tar = t.path() + "/pm.tar", bad = t.path() + "/no-manifest.tar";
  ASSERT_EQ(pm({"save", "--format", "docker-archive", "-o", tar, kPodmanImage}).code, 0);
  Result strip = sh("mkdir \"$1\".d && tar -C \"$1\".d -xf \"$1\" && rm \"$1\".d/manifest.json && tar -C \"$1\".d -cf \"$2\" .",
                    {tar, bad});
  ASSERT_EQ(strip.code, 0) << strip.err;
  std::string before = snapshot(root());
  for (const char* cmd : {"import", "load"}) {
    Result r = std::string(cmd) == "import" ? hv({"image", "import", bad, "--name", "wrong:1"}) : hv({"load", "-i", bad});
    EXPECT_EQ(r.code, 125) << cmd;
    EXPECT_NE(r.err.find("no manifest.json or oci-layout"), std::string::npos) << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_EQ(snapshot(root()), before) << cmd;
  }
}

TEST_F(ImageArchive, PodmanSavedArchivesLoadAndRunInContainerMode) {
  TempDir t;
  Podman pm;
  make_podman_image(pm, t.path());
  const std::string id = podman_id(pm, kPodmanImage);
  for (const char* format : {"docker-archive", "oci-archive"}) {
    SCOPED_TRACE(format);
    std::string tar = t.path() + "/" + format + ".tar";
    Result s = pm({"save", "--format", format, "-o", tar, kPodmanImage});
    ASSERT_EQ(s.code, 0) << s.err;
    TempDir fresh;
    Result l = hvrun::test::hvrun(fresh.path(), {"load", "-i", tar});
    ASSERT_EQ(l.code, 0) << l.err;
    EXPECT_EQ(l.out, std::string("Loaded image: ") + kPodmanImage + "\n");
    EXPECT_EQ(inspect1(fresh.path(), kPodmanImage)["Id"], "sha256:" + id);
    Result cmd = hvrun::test::hvrun(fresh.path(), {"run", "--rm", "--container", kPodmanImage});
    EXPECT_EQ(cmd.code, 0) << cmd.err;
    EXPECT_EQ(cmd.out, "hello\n") << "the image's own Cmd";
    Result env = hvrun::test::hvrun(fresh.path(), {"run", "--rm", kPodmanImage, "sh", "-c", "echo $GREETING; cat /etc/greeting"});
    EXPECT_EQ(env.code, 0) << env.err;
    EXPECT_EQ(env.out, "from-podman\nhello\n");
  }
}

TEST_F(ImageArchive, HvrunSaveLoadsIntoPodmanWithTheSameFilesCmdAndEnv) {
  TempDir t;
  Podman src;
  make_podman_image(src, t.path());
  std::string in = t.path() + "/in.tar";
  ASSERT_EQ(src({"save", "--format", "oci-archive", "-o", in, kPodmanImage}).code, 0);
  ASSERT_EQ(hv({"load", "-i", in}).code, 0);
  json mine = inspect1(root(), kPodmanImage);
  std::string passwd = hv({"run", "--rm", "busybox", "cat", "/etc/passwd"}).out;
  ASSERT_FALSE(passwd.empty());

  for (const char* format : {"docker-archive", "oci-archive"}) {
    SCOPED_TRACE(format);
    std::string out = t.path() + "/hvrun-" + format + ".tar";
    Result s = hv({"save", "--format", format, "-o", out, kPodmanImage, "busybox"});
    ASSERT_EQ(s.code, 0) << s.err;
    EXPECT_EQ(s.out, "");
    Podman pm;
    if (std::string(format) == "oci-archive") {
      // podman loads one image from an OCI archive: save them one by one.
      ASSERT_EQ(hv({"save", "--format", format, "-o", out, kPodmanImage}).code, 0);
      std::string bb = t.path() + "/hvrun-bb.tar";
      ASSERT_EQ(hv({"save", "--format", format, "-o", bb, "busybox"}).code, 0);
      Result l2 = pm({"load", "-i", bb});
      ASSERT_EQ(l2.code, 0) << l2.err;
    }
    Result l = pm({"load", "-i", out});
    ASSERT_EQ(l.code, 0) << l.err;
    Result cat = pm.run_rm(kPodmanImage, {"cat", "/etc/greeting"});
    EXPECT_EQ(cat.code, 0) << cat.err;
    EXPECT_EQ(cat.out, "hello\n");
    Result def = pm.run_rm(kPodmanImage, {});
    EXPECT_EQ(def.out, "hello\n") << "podman runs the Cmd hvrun kept: " << def.err;
    Result ins = pm({"image", "inspect", "--format", "{{json .Config.Cmd}}|{{json .Config.Env}}|{{.Id}}", kPodmanImage});
    ASSERT_EQ(ins.code, 0) << ins.err;
    EXPECT_EQ(trim(ins.out), mine["Config"]["Cmd"].dump() + "|" + mine["Config"]["Env"].dump() + "|" +
                                 mine["Id"].get<std::string>().substr(7));
    Result bb = pm.run_rm("docker.io/library/busybox:latest", {"cat", "/etc/passwd"});
    EXPECT_EQ(bb.code, 0) << bb.err;
    EXPECT_EQ(bb.out, passwd) << "hvrun's own busybox import, through podman";
  }
}

TEST_F(ImageArchive, SaveThenLoadIntoAFreshStoreKeepsIdsNamesAndLayerDigests) {
  TempDir t;
  json orig = inspect1(root(), "busybox");
  std::string diff = orig["RootFS"]["Layers"][0].get<std::string>().substr(7);
  for (const char* format : {"docker-archive", "oci-archive", "oci-dir"}) {
    SCOPED_TRACE(format);
    std::string out = t.path() + "/bb-" + format;
    Result s = hv({"save", "--format", format, "-o", out, "busybox"});
    ASSERT_EQ(s.code, 0) << s.err;
    TempDir fresh;
    Result l = hvrun::test::hvrun(fresh.path(), {"load", "-i", out});
    ASSERT_EQ(l.code, 0) << l.err;
    EXPECT_EQ(l.out, "Loaded image: busybox:latest\n");
    json j = inspect1(fresh.path(), "busybox");
    EXPECT_EQ(j["Id"], orig["Id"]);
    EXPECT_EQ(j["RootFS"], orig["RootFS"]);
    EXPECT_EQ(kept_blob(fresh.path(), diff), kept_blob(root(), diff)) << "the layer blob travelled unchanged";
    Result r = hvrun::test::hvrun(fresh.path(), {"run", "--rm", "busybox", "echo", "ok"});
    EXPECT_EQ(r.out, "ok\n") << r.err;
  }
  // The same images saved twice are the same bytes.
  ASSERT_EQ(hv({"save", "-o", t.path() + "/again", "busybox"}).code, 0);
  EXPECT_EQ(file_text(t.path() + "/again"), file_text(t.path() + "/bb-docker-archive"));
}

TEST_F(ImageArchive, SaveToStdoutPipesIntoLoadFromStdin) {
  TempDir fresh;
  Result r = sh("\"$1\" --root \"$2\" save busybox | \"$1\" --root \"$3\" load", {hvrun_bin(), root(), fresh.path()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Loaded image: busybox:latest\n");
  EXPECT_EQ(inspect1(fresh.path(), "busybox")["Id"], inspect1(root(), "busybox")["Id"]);
  EXPECT_EQ(listing(fresh.path() + "/tmp"), "") << "the spooled copy is gone";
}

TEST_F(ImageArchive, SeveralImagesInOneArchiveAllLoadWithTheirNames) {
  TempDir t;
  ASSERT_EQ(hv({"image", "import", greeting_rootfs(t.path(), "second"), "--name", "second:1"}).code, 0);
  ASSERT_EQ(hv({"tag", "busybox", "other:2"}).code, 0);
  for (const char* format : {"docker-archive", "oci-archive", "oci-dir"}) {
    SCOPED_TRACE(format);
    std::string out = t.path() + "/all-" + format;
    Result s = hv({"save", "--format", format, "-o", out, "busybox", "second:1", "other:2"});
    ASSERT_EQ(s.code, 0) << s.err;
    TempDir fresh;
    Result l = hvrun::test::hvrun(fresh.path(), {"load", "-i", out});
    ASSERT_EQ(l.code, 0) << l.err;
    EXPECT_EQ(l.out, "Loaded image: busybox:latest\nLoaded image: other:2\nLoaded image: second:1\n");
    EXPECT_EQ(inspect1(fresh.path(), "other:2")["Id"], inspect1(root(), "busybox")["Id"]);
    EXPECT_EQ(inspect1(fresh.path(), "second:1")["Id"], inspect1(root(), "second:1")["Id"]);
    EXPECT_EQ(hvrun::test::hvrun(fresh.path(), {"run", "--rm", "second:1", "cat", "/etc/greeting"}).out, "second\n");
  }
}

TEST_F(ImageArchive, AnImageSavedByIdCarriesNoNameAndLoadNamesItsId) {
  TempDir t;
  std::string id = inspect1(root(), "busybox")["Id"];
  std::string out = t.path() + "/byid.tar";
  ASSERT_EQ(hv({"save", "-o", out, id.substr(7, 12)}).code, 0);
  TempDir fresh;
  Result l = hvrun::test::hvrun(fresh.path(), {"load", "-i", out});
  ASSERT_EQ(l.code, 0) << l.err;
  EXPECT_EQ(l.out, "Loaded image ID: " + id + "\n");
  EXPECT_NE(hvrun::test::hvrun(fresh.path(), {"images"}).out.find("<none>"), std::string::npos);
}

TEST_F(ImageArchive, LoadOfACorruptTruncatedOrWrongInputIsOneLineAndTheStoreKeepsEveryImage) {
  TempDir t;
  ASSERT_EQ(hv({"image", "import", greeting_rootfs(t.path(), "second"), "--name", "second:1"}).code, 0);
  std::string good = t.path() + "/second.tar";
  ASSERT_EQ(hv({"save", "-o", good, "second:1"}).code, 0);
  ASSERT_EQ(hv({"rmi", "second:1"}).code, 0);
  const std::string size = std::to_string(fs::file_size(good));
  // Truncated in the layer's data; and one with a byte of the layer changed.
  ASSERT_EQ(sh("head -c $(($2 / 2)) \"$1\" > \"$1\".short", {good, size}).code, 0);
  std::string flipped = good + ".flipped";
  {
    std::string data = file_text(good);
    size_t at = data.find("second\n");  // /etc/greeting inside the layer
    ASSERT_NE(at, std::string::npos);
    data[at] = 'S';
    std::ofstream(flipped, std::ios::binary) << data;
  }
  std::string rootfs_tar = t.path() + "/rootfs.tar";
  ASSERT_EQ(sh("tar -C \"$1\" -cf \"$2\" .", {busybox_rootfs(), rootfs_tar}).code, 0);
  std::ofstream(t.path() + "/junk") << "this is no archive\n";

  std::string before = snapshot(root());
  struct Case {
    std::vector<std::string> args;
    std::string input, want;
  };
  for (const Case& c : std::vector<Case>{
           {{"load", "-i", good + ".short"}, "", "truncated"},
           {{"load"}, file_text(good + ".short"), "stdin: corrupt or truncated archive"},
           {{"load", "-i", flipped}, "", "mismatch"},
           {{"load", "-i", rootfs_tar}, "", "not an image archive"},
           {{"load", "-i", t.path() + "/junk"}, "", "not a tar archive"},
           {{"load"}, "", "nothing on stdin"},
           {{"load", "-i", t.path() + "/nosuch.tar"}, "", "No such file or directory"},
       }) {
    Result r = hv(c.args, c.input);
    EXPECT_EQ(r.code, 125) << c.args.back();
    EXPECT_NE(r.err.find(c.want), std::string::npos) << r.err;
    EXPECT_EQ(r.err.rfind("hvrun: ", 0), 0u) << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_EQ(snapshot(root()), before) << r.err;
  }
  EXPECT_EQ(hv({"run", "--rm", "busybox", "true"}).code, 0) << "busybox still runs";
}

TEST_F(ImageArchive, SaveRefusesMissingImagesBadNamesAndFormatsAndLeavesTheOutputAlone) {
  TempDir t;
  std::string out = t.path() + "/out.tar";
  std::ofstream(out) << "keep me\n";
  std::string before = snapshot(root());
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {{"save", "-o", out, "busybox", "nosuch"}, "no such image: nosuch"},
           {{"save", "-o", out, "Bad Ref!"}, "invalid reference format"},
           {{"save", "-o", out, "--format", "zip", "busybox"}, "unknown save format 'zip'"},
           {{"save", "-o", t.path(), "--format", "oci-dir", "busybox"}, "already exists and is not empty"},
           {{"save", "--bogus", "busybox"}, "unknown flag"},
       }) {
    Result r = hv(c.args);
    EXPECT_EQ(r.code, 125);
    EXPECT_NE(r.err.find(c.want), std::string::npos) << r.err;
    EXPECT_EQ(r.err.rfind("hvrun", 0), 0u) << r.err;
    EXPECT_EQ(snapshot(root()), before);
  }
  EXPECT_EQ(file_text(out), "keep me\n");
  EXPECT_EQ(listing(t.path()), "out.tar\n") << "no temporary file left beside it";
}

TEST_F(ImageArchive, RmiRemovesLikeImageRm) {
  ASSERT_EQ(hv({"tag", "busybox", "x:1"}).code, 0);
  Result u = hv({"rmi", "x:1"});
  EXPECT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(u.out, "Untagged: x:1\n");
  ASSERT_EQ(hv({"run", "--name", "user", "busybox", "true"}).code, 0);
  Result busy = hv({"rmi", "busybox"});
  EXPECT_EQ(busy.code, 125);
  EXPECT_NE(busy.err.find("in use by container"), std::string::npos) << busy.err;
  Result missing = hv({"rmi", "nosuch"});
  EXPECT_EQ(missing.code, 125);
  EXPECT_EQ(missing.err, "hvrun: no such image: nosuch\n");
  ASSERT_EQ(hv({"rm", "user"}).code, 0);
  std::string id = inspect1(root(), "busybox")["Id"];
  Result d = hv({"rmi", "busybox"});
  EXPECT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(d.out, "Untagged: busybox:latest\nDeleted: " + id + "\n");
  EXPECT_EQ(listing(root() + "/layers"), "");
}

TEST_F(ImageArchive, ImagePruneRemovesDanglingImagesAndWithAllEveryImageNoContainerUses) {
  TempDir t;
  auto import = [&](const std::string& text, const std::vector<std::string>& name) {
    std::vector<std::string> args{"image", "import", greeting_rootfs(t.path(), text)};
    args.insert(args.end(), name.begin(), name.end());
    Result r = hv(args);
    EXPECT_EQ(r.code, 0) << r.err;
    return trim(r.out);
  };
  std::string dangling = import("dangling", {});
  std::string kept = import("kept", {});  // untagged, but a container uses it
  std::string tagged = import("tagged", {"--name", "tagged:1"});
  ASSERT_EQ(hv({"run", "--name", "c1", kept, "true"}).code, 0);
  ASSERT_EQ(hv({"run", "--name", "c2", "tagged:1", "true"}).code, 0);
  std::string busybox = inspect1(root(), "busybox")["Id"];

  Result p = hv({"image", "prune"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out.rfind("Deleted Images:\ndeleted: " + dangling + "\ndeleted: sha256:", 0), 0u) << p.out;
  EXPECT_TRUE(std::regex_search(p.out, std::regex("\n\nTotal reclaimed space: [0-9.]+[kM]B\n$"))) << p.out;
  EXPECT_NE(hv({"image", "inspect", dangling}).code, 0);
  for (const auto& id : {kept, tagged, busybox}) EXPECT_EQ(hv({"image", "inspect", id}).code, 0) << id;

  Result a = hv({"image", "prune", "-a"});
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out.rfind("Deleted Images:\nuntagged: busybox:latest\ndeleted: " + busybox + "\n", 0), 0u) << a.out;
  EXPECT_NE(hv({"image", "inspect", busybox}).code, 0);
  EXPECT_EQ(hv({"image", "inspect", kept}).code, 0) << "a container uses it";
  EXPECT_EQ(hv({"image", "inspect", "tagged:1"}).code, 0) << "a container uses it";
  EXPECT_EQ(hv({"run", "--rm", "tagged:1", "cat", "/etc/greeting"}).out, "tagged\n");
  size_t layers = fs::exists(root() + "/layers") ? static_cast<size_t>(std::distance(fs::directory_iterator(root() + "/layers"), {})) : 0;
  EXPECT_EQ(layers, 2u) << "only the layers of the two images in use";

  Result again = hv({"image", "prune", "-a"});
  EXPECT_EQ(again.out, "Total reclaimed space: 0B\n");
}

TEST_F(ImageArchive, SystemDfCountsTheStoreAndPruneFreesWhatItCalledReclaimable) {
  TempDir t;
  ASSERT_EQ(hv({"image", "import", greeting_rootfs(t.path(), "used"), "--name", "used:1"}).code, 0);
  ASSERT_EQ(hv({"run", "--name", "c", "used:1", "true"}).code, 0);
  Result df = hv({"system", "df"});
  ASSERT_EQ(df.code, 0) << df.err;
  EXPECT_TRUE(std::regex_search(df.out, std::regex("^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE\n"))) << df.out;
  EXPECT_TRUE(std::regex_search(df.out, std::regex("\nImages +2 +1 +[0-9.]+MB +[0-9.]+MB \\([0-9]+%\\)\n"))) << df.out;
  EXPECT_TRUE(std::regex_search(df.out, std::regex("\nContainers +1 +0 +[0-9.]+[kM]?B +"))) << df.out;
  EXPECT_TRUE(std::regex_search(df.out, std::regex("\nLayers +2 +2 +[0-9.]+MB +0B \\(0%\\)\n"))) << df.out;

  Result f = hv({"system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}} {{.Reclaimable}}"});
  ASSERT_EQ(f.code, 0) << f.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(f.out, m, std::regex("^Images 2 1 ([0-9.]+[kM]?B) \\("))) << f.out;
  std::string reclaimable = m[1];
  Result p = hv({"image", "prune", "-a"});
  EXPECT_NE(p.out.find("Total reclaimed space: " + reclaimable + "\n"), std::string::npos)
      << "df said " << reclaimable << "; prune: " << p.out;
  Result after = hv({"system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"});
  EXPECT_EQ(after.out, "Images 1 1\nContainers 1 0\nLayers 1 1\n");
  Result bad = hv({"system", "df", "--format", "{{.Nope}}"});
  EXPECT_EQ(bad.code, 125);
  EXPECT_EQ(lines(bad.err), 1u) << bad.err;
}
