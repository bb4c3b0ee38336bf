// `hvrun image ...`, `hvrun images`, `hvrun tag` driven through the real binary.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.hpp"

using namespace hvrun::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Builds test images with python3's tarfile: kind "oci" or "docker" into DIR
// (and DIR.tar). "bad-digest" swaps a layer blob for another valid layer.
const char* kMakeImage = R"PY(
import tarfile, io, json, hashlib, gzip, os, sys
out, kind, mode = sys.argv[1], sys.argv[2], sys.argv[3]
def tar_bytes(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name); ti.mtime = 1700000000
            if data is None:
                ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
            else:
                ti.size = len(data); ti.mode = 0o755; t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()
l1 = tar_bytes([("etc", None), ("etc/os-release", b"NAME=test\n"), ("etc/old", b"old\n"), ("opt", None),
                ("opt/hidden", b"h\n")])
l2 = tar_bytes([("etc/.wh.old", b""), ("app", None), ("app/run.sh", b"#!/bin/sh\necho hi\n"), ("opt", None),
                ("opt/.wh..wh..opq", b""), ("opt/new", b"n\n")])
layers = [l1, l2]
diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
config = {"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
          "config": {"Env": ["PATH=/bin", "FOO=bar"], "Entrypoint": ["/app/run.sh"], "Cmd": ["x"],
                     "WorkingDir": "/app", "User": "1000:1000"},
          "rootfs": {"type": "layers", "diff_ids": diff_ids}}
cfg = json.dumps(config).encode()
sha = lambda b: hashlib.sha256(b).hexdigest()
os.makedirs(out)
def put(path, data):
    p = os.path.join(out, path); os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "wb").write(data)
if kind == "oci":
    blobs = [gzip.compress(l, mtime=0) for l in layers]
    put("blobs/sha256/" + sha(cfg), cfg)
    descs = []
    for b in blobs:
        put("blobs/sha256/" + sha(b), b)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + sha(b), "size": len(b)})
    if mode == "bad-digest":
        put("blobs/sha256/" + sha(blobs[1]), gzip.compress(tar_bytes([("evil", b"not the layer\n")]), mtime=0))
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + sha(cfg), "size": len(cfg)},
        "layers": descs}).encode()
    put("blobs/sha256/" + sha(man), man)
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(man), "size": len(man),
            "annotations": {"org.opencontainers.image.ref.name": "example.com/test/app:v1"}}
    if mode == "nested-index":
        # A multi-platform index inside the top index: arm64 first (its blob is
        # missing, so picking it fails), then amd64.
        desc["platform"] = {"os": "linux", "architecture": "amd64"}
        arm = {"mediaType": desc["mediaType"], "digest": "sha256:" + "0" * 64, "size": 1,
               "platform": {"os": "linux", "architecture": "arm64"}}
        nested = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                             "manifests": [arm, desc]}).encode()
        put("blobs/sha256/" + sha(nested), nested)
        desc = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + sha(nested),
                "size": len(nested), "annotations": {"io.containerd.image.name": "docker.io/library/multi:3",
                                                     "org.opencontainers.image.ref.name": "3"}}
    put("index.json", json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode())
    put("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
else:
    paths = []
    for i, l in enumerate(layers):
        body = l if mode != "bad-digest" or i == 0 else tar_bytes([("evil", b"x")])
        put("%064x/layer.tar" % (i + 1), body)
        paths.append("%064x/layer.tar" % (i + 1))
    put(sha(cfg) + ".json", cfg)
    if mode == "escape-path":
        paths[1] = "../../../../../../etc/passwd"
    put("manifest.json", json.dumps([{"Config": sha(cfg) + ".json", "RepoTags": ["dock/img:2"], "Layers": paths}]).encode())
with tarfile.open(out + ".tar", "w") as t:
    for name in sorted(os.listdir(out)):
        t.add(os.path.join(out, name), arcname=name)
)PY";

const char* kHostileTar = R"PY(
import tarfile, io, sys
out, case = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w") as t:
    def add(name, data=b"x", **kw):
        ti = tarfile.TarInfo(name)
        for k, v in kw.items(): setattr(ti, k, v)
        if ti.type == tarfile.REGTYPE: ti.size = len(data); t.addfile(ti, io.BytesIO(data))
        else: t.addfile(ti)
    add("ok", b"fine")
    if case == "dotdot": add("../../escape")
    if case == "hardlink": add("h", type=tarfile.LNKTYPE, linkname="../../../etc/passwd")
    if case == "symlink":
        add("etc", type=tarfile.SYMTYPE, linkname="/host-etc")
        add("etc/passwd", b"root::0:0::/:/bin/sh\n")
    if case == "devices":
        add("dev/mem", type=tarfile.CHRTYPE, devmajor=1, devminor=1)
        add("dev/sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0)
        add("dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
)PY";

// A `docker save` tar (OUT.tar) of N layers, each a gzip of one file of
// SIZE zero bytes (tiny compressed, SIZE unpacked) and, with "devices", two
// device nodes.
const char* kZeroLayers = R"PY(
import tarfile, io, json, hashlib, gzip, os, sys
out, n, size, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sha = lambda b: hashlib.sha256(b).hexdigest()
layers, diff_ids = [], []
for i in range(n):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("zeros%d" % i); ti.size = size; t.addfile(ti, io.BytesIO(bytes(size)))
        if extra == "devices":
            for name, kind, mn in (("dev/c%d" % i, tarfile.CHRTYPE, 1), ("dev/b%d" % i, tarfile.BLKTYPE, 8)):
                ti = tarfile.TarInfo(name); ti.type = kind; ti.devmajor = mn; t.addfile(ti)
    raw = buf.getvalue()
    diff_ids.append("sha256:" + sha(raw))
    layers.append(gzip.compress(raw, mtime=0))
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
with tarfile.open(out + ".tar", "w") as t:
    def put(name, data):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    paths = []
    for i, l in enumerate(layers):
        paths.append("%064x/layer.tar" % (i + 1)); put(paths[-1], l)
    put(sha(cfg) + ".json", cfg)
    put("manifest.json", json.dumps([{"Config": sha(cfg) + ".json", "RepoTags": ["zeros:1"], "Layers": paths}]).encode())
)PY";

void python(const char* script, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"python3", "-c", script};
  argv.insert(argv.end(), args.begin(), args.end());
  Result r = run(argv);
  ASSERT_EQ(r.code, 0) << r.err;
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

size_t count_entries(const std::string& dir) {
  std::string l = listing(dir);
  return static_cast<size_t>(std::count(l.begin(), l.end(), '\n'));
}

// Everything that must not change when an import fails: image ids, names,
// layers, image records and (unless asked not to) the staging area.
std::string snapshot(const std::string& root, bool with_tmp = true) {
  Result r = hvrun::test::hvrun(root, {"images", "-q"});
  std::string repos = fs::exists(root + "/repositories.json") ? json::parse(std::ifstream(root + "/repositories.json")).dump() : "";
  return r.out + "|" + repos + "|" + listing(root + "/layers") + "|" + listing(root + "/images") + "|" +
         (with_tmp ? listing(root + "/tmp") : "");
}

// A listing's rows with the words of the age column ("... ago") removed and
// the columns' padding collapsed, so two listings taken a moment apart compare.
std::string without_age_column(const std::string& listing) {
  std::istringstream in(listing);
  std::string line, out;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    auto ago = std::find(w.begin(), w.end(), "ago");
    if (ago != w.end()) {
      // The age is the words before "ago" back to the image id (12 hex).
      auto first = ago;
      while (first != w.begin() && (first - 1)->size() != 12) --first;
      w.erase(first, ago + 1);
    }
    for (const auto& x : w) out += x + " ";
    out += "\n";
  }
  return out;
}

json inspect1(const std::string& root, const std::string& ref) {
  Result r = hvrun::test::hvrun(root, {"image", "inspect", ref});
  EXPECT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j.size(), 1u);
  return j[0];
}

}  // namespace

class ImageCli : public StoreFixture {};

TEST_F(ImageCli, BusyboxImportIsListedByImagesAndImageLs) {
  Result r = hv({"images"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("REPOSITORY", 0), 0u);
  EXPECT_NE(r.out.find("IMAGE ID"), std::string::npos);
  EXPECT_NE(r.out.find("busybox"), std::string::npos);
  EXPECT_NE(r.out.find("latest"), std::string::npos);
  Result ls = hv({"image", "ls"});
  ASSERT_EQ(ls.code, 0) << ls.err;
  // The CREATED column is an age ("Less than a second ago", "a second ago")
  // that may move between the two calls; every other column must match.
  EXPECT_EQ(without_age_column(ls.out), without_age_column(r.out));
  Result q = hv({"images", "-q"});
  ASSERT_EQ(q.code, 0);
  std::string id = trim(q.out);
  EXPECT_EQ(id.size(), 12u);
  json j = inspect1(root(), "busybox");
  EXPECT_EQ(j["Id"].get<std::string>().substr(7, 12), id);
  EXPECT_EQ(j["Config"]["Cmd"], json::array({"/bin/sh"}));
  ASSERT_EQ(j["GraphDriver"]["Data"]["LowerDirs"].size(), 1u);
  for (auto& d : j["GraphDriver"]["Data"]["LowerDirs"]) EXPECT_TRUE(fs::exists(d.get<std::string>() + "/bin/busybox"));
}

TEST_F(ImageCli, RootfsTarImportsInEveryCompression) {
  TempDir t;
  std::string tar = t.path() + "/rootfs.tar";
  ASSERT_EQ(run({"tar", "-C", busybox_rootfs(), "-cf", tar, "."}).code, 0);
  ASSERT_EQ(run({"sh", "-c", "gzip -k " + tar + " && zstd -q -k " + tar + " && xz -k " + tar}).code, 0);
  std::string first;
  for (std::string ext : {"", ".gz", ".zst", ".xz"}) {
    std::string name = "bb" + (ext.empty() ? std::string("plain") : ext.substr(1));
    Result r = hv({"image", "import", tar + ext, "--name", name});
    ASSERT_EQ(r.code, 0) << ext << ": " << r.err;
    std::string id = trim(r.out);
    EXPECT_EQ(id.rfind("sha256:", 0), 0u);
    if (first.empty()) first = id;
    EXPECT_EQ(id, first) << "same tar content must give the same image";
    EXPECT_EQ(inspect1(root(), name)["Config"]["Cmd"], json::array({"/bin/sh"}));
  }
  json j = inspect1(root(), "bbplain");
  EXPECT_EQ(j["RepoTags"].size(), 4u);
}

TEST_F(ImageCli, OciLayoutDirAndTarImportWithConfigAndWhiteouts) {
  TempDir t;
  std::string dir = t.path() + "/oci";
  python(kMakeImage, {dir, "oci", "good"});
  Result r = hv({"image", "import", dir});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = inspect1(root(), "example.com/test/app:v1");
  EXPECT_EQ(j["Config"]["Env"], json::array({"PATH=/bin", "FOO=bar"}));
  EXPECT_EQ(j["Config"]["Entrypoint"], json::array({"/app/run.sh"}));
  EXPECT_EQ(j["Config"]["WorkingDir"], "/app");
  EXPECT_EQ(j["Config"]["User"], "1000:1000");
  EXPECT_EQ(j["Created"], "2024-01-02T03:04:05Z");
  ASSERT_EQ(j["RootFS"]["Layers"].size(), 2u);
  auto lower = j["GraphDriver"]["Data"]["LowerDirs"];
  ASSERT_EQ(lower.size(), 2u);
  std::string top = lower[0], bottom = lower[1];
  EXPECT_TRUE(fs::exists(top + "/app/run.sh"));
  EXPECT_TRUE(fs::exists(bottom + "/etc/os-release"));
  struct stat st;
  ASSERT_EQ(::lstat((top + "/etc/old").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "whiteout must be a 0:0 char device";
  Result r2 = hv({"image", "import", dir + ".tar", "--name", "ocitar"});
  ASSERT_EQ(r2.code, 0) << r2.err;
  EXPECT_EQ(trim(r2.out), trim(r.out));
  EXPECT_EQ(count_entries(root() + "/layers"), 3u)
      << "busybox layer + 2 shared OCI layers";
}

TEST_F(ImageCli, DockerSaveTarImportUsesRepoTags) {
  TempDir t;
  std::string dir = t.path() + "/docker";
  python(kMakeImage, {dir, "docker", "good"});
  Result r = hv({"image", "import", dir + ".tar"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = inspect1(root(), "dock/img:2");
  EXPECT_EQ(j["Config"]["Cmd"], json::array({"x"}));
  EXPECT_EQ(j["RootFS"]["Layers"].size(), 2u);
  EXPECT_EQ(trim(r.out), j["Id"].get<std::string>());
}

TEST_F(ImageCli, WrongLayerDigestFailsAndLeavesStoreUnchanged) {
  TempDir t;
  python(kMakeImage, {t.path() + "/oci", "oci", "bad-digest"});
  python(kMakeImage, {t.path() + "/docker", "docker", "bad-digest"});
  std::string before = snapshot(root());
  for (std::string in : {t.path() + "/oci", t.path() + "/oci.tar", t.path() + "/docker.tar"}) {
    Result r = hv({"image", "import", in, "--name", "bad"});
    EXPECT_NE(r.code, 0) << in;
    EXPECT_TRUE(r.err.find("digest mismatch") != std::string::npos || r.err.find("diff id mismatch") != std::string::npos)
        << in << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one-line error: " << r.err;
    EXPECT_EQ(snapshot(root()), before) << in;
  }
}

TEST_F(ImageCli, HostileTarsFailWithoutTouchingStoreOrHost) {
  TempDir t;
  std::string before = snapshot(root());
  for (std::string c : {"dotdot", "hardlink"}) {
    std::string tar = t.path() + "/" + c + ".tar";
    python(kHostileTar, {tar, c});
    Result r = hv({"image", "import", tar, "--name", "hostile"});
    EXPECT_NE(r.code, 0) << c;
    EXPECT_NE(r.err.find("escapes the layer root"), std::string::npos) << c << ": " << r.err;
    EXPECT_EQ(snapshot(root()), before) << c;
  }
  EXPECT_FALSE(fs::exists(fs::path(root()).parent_path() / "escape"));
}

TEST_F(ImageCli, UnknownImageIsAClearError) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"image", "inspect", "nosuch"}, {"image", "rm", "nosuch"}, {"tag", "nosuch", "other"}}) {
    Result r = hv(args);
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("no such image: nosuch"), std::string::npos) << r.err;
  }
}

TEST_F(ImageCli, BadReferenceNamesAreRejected) {
  std::string before = snapshot(root());
  Result r = hv({"tag", "busybox", "Bad Name"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("invalid reference format"), std::string::npos) << r.err;
  r = hv({"image", "import", busybox_rootfs(), "--name", "UPPER:case"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("invalid reference format"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(root()), before);
}

TEST_F(ImageCli, MissingPathAndNonArchiveImportsFail) {
  TempDir t;
  std::string before = snapshot(root());
  Result r = hv({"image", "import", t.path() + "/missing.tar"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;
  std::ofstream(t.path() + "/notes.txt") << "hello, not an archive\n";
  r = hv({"image", "import", t.path() + "/notes.txt"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("not a tar archive"), std::string::npos) << r.err;
  ASSERT_EQ(run({"sh", "-c", "tar -C " + busybox_rootfs() + " -czf " + t.path() + "/c.tgz . && head -c 300000 " +
                                 t.path() + "/c.tgz > " + t.path() + "/cut.tgz"})
                .code,
            0);
  r = hv({"image", "import", t.path() + "/cut.tgz"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("cut.tgz"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(root()), before);
}

TEST_F(ImageCli, RmIsRefusedWhileAContainerUsesTheImageUnlessForced) {
  std::string id = inspect1(root(), "busybox")["Id"].get<std::string>().substr(7);
  fs::create_directories(root() + "/containers/abc123");
  std::ofstream(root() + "/containers/abc123/config.json") << json{{"image_id", id}}.dump();
  Result r = hv({"image", "rm", "busybox"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("in use by container abc123"), std::string::npos) << r.err;
  EXPECT_EQ(hv({"image", "inspect", "busybox"}).code, 0);
  r = hv({"image", "rm", "-f", "busybox"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Deleted: sha256:" + id), std::string::npos);
  EXPECT_EQ(listing(root() + "/layers"), "");
  fs::remove_all(root() + "/containers/abc123");
}

TEST_F(ImageCli, TagAddsANameAndRmOfOneTagKeepsTheImage) {
  ASSERT_EQ(hv({"tag", "busybox", "mine/box:v2"}).code, 0);
  json j = inspect1(root(), "mine/box:v2");
  EXPECT_EQ(j["RepoTags"], json::array({"busybox:latest", "mine/box:v2"}));
  Result r = hv({"image", "rm", "busybox"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(trim(r.out), "Untagged: busybox:latest");
  EXPECT_EQ(hv({"image", "inspect", "mine/box:v2"}).code, 0);
}

TEST_F(ImageCli, ParallelImportsAndTagsKeepRepositoriesConsistent) {
  std::vector<std::thread> threads;
  std::vector<Result> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (i % 2 == 0)
        results[i] = hv({"image", "import", busybox_rootfs(), "--name", "par" + std::to_string(i)});
      else
        results[i] = hv({"tag", "busybox", "tag" + std::to_string(i)});
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(results[i].code, 0) << i << ": " << results[i].err;
  std::ifstream f(root() + "/repositories.json");
  json repos = json::parse(f);
  EXPECT_EQ(repos.size(), 9u) << repos.dump();
  std::set<std::string> ids;
  for (auto& [k, v] : repos.items()) ids.insert(v.get<std::string>());
  EXPECT_EQ(ids.size(), 1u) << "all names point at the one busybox image";
  EXPECT_EQ(listing(root() + "/tmp"), "");
  EXPECT_EQ(count_entries(root() + "/layers"), 1u);
}

TEST_F(ImageCli, ImportKilledHalfWayLeavesNoHalfImage) {
  TempDir t;
  std::string tar = t.path() + "/big.tar.zst";
  ASSERT_EQ(run({"sh", "-c", "cd " + t.path() + " && truncate -s 1G zero && tar -cf - zero | zstd -1 -q -o " + tar}).code,
            0);
  std::string before = snapshot(root());
  pid_t pid = fork();
  if (pid == 0) {
    execl(hvrun_bin().c_str(), "hvrun", "--root", root().c_str(), "image", "import", tar.c_str(), "--name", "big",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill once the big file is being written inside the staging area.
  bool staged = false;
  for (int i = 0; i < 1000 && !staged; ++i) {
    usleep(5000);
    std::error_code ec;
    for (auto& e : fs::directory_iterator(root() + "/tmp", ec))
      if (fs::exists(e.path() / "layers/new-0/diff/zero", ec)) staged = true;
  }
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(staged) << "import never started staging";
  ASSERT_TRUE(WIFSIGNALED(st)) << "import finished before it could be killed";
  EXPECT_EQ(snapshot(root(), false), before.substr(0, before.rfind('|') + 1)) << "a half image became visible";
  EXPECT_EQ(hv({"image", "inspect", "big"}).code, 125);
  ASSERT_EQ(hv({"tag", "busybox", "after"}).code, 0);  // a mutation cleans the stale staging
  EXPECT_EQ(listing(root() + "/tmp"), "");
  std::string after = snapshot(root());
  // Only the new tag differs: layers, images and the (now clean) staging area match.
  EXPECT_EQ(after.substr(after.find('|', after.find('|') + 1)), before.substr(before.find('|', before.find('|') + 1)));
}

TEST_F(ImageCli, ImportedLayersStackAsOverlayLowerdirs) {
  TempDir t;
  python(kMakeImage, {t.path() + "/oci", "oci", "good"});
  ASSERT_EQ(hv({"image", "import", t.path() + "/oci", "--name", "stack"}).code, 0);
  std::string lower;
  json img = inspect1(root(), "stack");
  ASSERT_EQ(img["GraphDriver"]["Data"]["LowerDirs"].size(), 2u);
  for (auto& d : img["GraphDriver"]["Data"]["LowerDirs"])
    lower += (lower.empty() ? "" : ":") + d.get<std::string>();
  std::string mnt = t.path() + "/mnt";
  fs::create_directories(mnt);
  Result r = run({"unshare", "-m", "sh", "-c",
                  "mount -t overlay overlay -o lowerdir=" + lower + " " + mnt + " && cd " + mnt +
                      " && ls -1 etc opt app"});
  ASSERT_EQ(r.code, 0) << r.err << " lowerdir=" << lower;
  EXPECT_NE(r.out.find("os-release"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run.sh"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("new"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nold\n"), std::string::npos) << "whiteout did not hide etc/old: " << r.out;
  EXPECT_EQ(r.out.find("\nhidden\n"), std::string::npos) << "opaque dir did not hide opt/hidden: " << r.out;
}

TEST_F(ImageCli, OciNestedIndexPicksHostPlatformAndContainerdName) {
  TempDir t;
  python(kMakeImage, {t.path() + "/oci", "oci", "nested-index"});
  Result r = hv({"image", "import", t.path() + "/oci.tar"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = inspect1(root(), "multi:3");
  EXPECT_EQ(j["Id"].get<std::string>(), trim(r.out));
  EXPECT_EQ(j["Config"]["Env"], json::array({"PATH=/bin", "FOO=bar"}));
}

TEST_F(ImageCli, LayerSizeLimitFromEnvironmentRejectsBigImports) {
  TempDir t;
  std::string tar = t.path() + "/bb.tar.gz";
  ASSERT_EQ(run({"tar", "-C", busybox_rootfs(), "-czf", tar, "."}).code, 0);
  std::string before = snapshot(root());
  for (const std::string& in : {busybox_rootfs(), tar}) {
    Result r = run({hvrun_bin(), "--root", root(), "image", "import", in, "--name", "capped"}, "", 60,
                   {{"HVRUN_MAX_LAYER_SIZE", "1M"}});
    EXPECT_NE(r.code, 0) << in;
    EXPECT_NE(r.err.find("limit of 1048576 bytes"), std::string::npos) << in << ": " << r.err;
    EXPECT_EQ(snapshot(root()), before) << in;
  }
}

TEST_F(ImageCli, DockerManifestPathOutsideTheArchiveIsNotFollowed) {
  TempDir t;
  python(kMakeImage, {t.path() + "/docker", "docker", "escape-path"});
  std::string before = snapshot(root());
  Result r = hv({"image", "import", t.path() + "/docker.tar"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("etc/passwd: No such file or directory"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(root()), before);
}

TEST_F(ImageCli, ImageWideSizeLimitRefusesSmallGzipsOfZerosOverSeveralLayers) {
  TempDir t;
  python(kZeroLayers, {t.path() + "/zeros", "3", std::to_string(512 << 10), "-"});
  ASSERT_LT(fs::file_size(t.path() + "/zeros.tar"), 64u << 10) << "the input is small";
  std::string before = snapshot(root());
  // Each layer (512 KiB) is under both caps; the three together are not.
  Result r = run({hvrun_bin(), "--root", root(), "image", "import", t.path() + "/zeros.tar"}, "", 60,
                 {{"HVRUN_MAX_IMAGE_SIZE", "1M"}, {"HVRUN_MAX_LAYER_SIZE", "1M"}});
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("image too large"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("limit of 1048576 bytes"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one-line error: " << r.err;
  EXPECT_EQ(snapshot(root()), before);
  Result ok = run({hvrun_bin(), "--root", root(), "image", "import", t.path() + "/zeros.tar"}, "", 60,
                  {{"HVRUN_MAX_IMAGE_SIZE", "2M"}});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(inspect1(root(), "zeros:1")["RootFS"]["Layers"].size(), 3u);
}

TEST_F(ImageCli, ImportStopsBeforeTheDiskFillsInOneLineAndLeavesTheStoreAsItWas) {
  HVRUN_REQUIRE_ROOT();
  TempDir t;
  python(kZeroLayers, {t.path() + "/zeros", "3", std::to_string(20 << 20), "-"});
  // The store on a 48 MiB tmpfs of its own (a private mount namespace); the
  // image would unpack to 60 MiB; imports keep 16 MiB free.
  Result r = run({"unshare", "-m", "--propagation", "private", "sh", "-c", R"SH(
set -e
d=$1; hv=$2; rootfs=$3; img=$4
mkdir "$d/m"
mount -t tmpfs -o size=48m hvrun-test "$d/m"
"$hv" --root "$d/m/store" image import "$rootfs" --name busybox:latest >/dev/null
before="$("$hv" --root "$d/m/store" images -q) $(ls "$d/m/store/layers" | tr '\n' ' ')"
set +e
"$hv" --root "$d/m/store" image import "$img" 2>"$d/err"; echo "rc=$?"
cat "$d/err" >&2
after="$("$hv" --root "$d/m/store" images -q) $(ls "$d/m/store/layers" | tr '\n' ' ')"
[ "$before" = "$after" ] && echo store-unchanged
echo "tmp=$(ls "$d/m/store/tmp" | wc -l)"
echo "free_mib=$(( $(stat -f -c '%a*%S' "$d/m" ) / 1048576 ))"
umount "$d/m")SH",
                  "sh", t.path(), hvrun_bin(), busybox_rootfs(), t.path() + "/zeros.tar"},
                 "", 120, {{"HVRUN_MIN_FREE_SPACE", "16M"}});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("rc=125\n"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.err.find("not enough free space to unpack"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("HVRUN_MIN_FREE_SPACE"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one-line error: " << r.err;
  EXPECT_NE(r.out.find("store-unchanged\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tmp=0\n"), std::string::npos) << "a partial image was left: " << r.out;
  size_t at = r.out.find("free_mib=");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_GE(std::stoi(r.out.substr(at + 9)), 40) << "the staging area was not given back: " << r.out;
}

TEST_F(ImageCli, DroppedDeviceNodesGetOneWarningLinePerImportWithTheCount) {
  TempDir t;
  python(kZeroLayers, {t.path() + "/devs", "3", "10", "devices"});
  Result r = hv({"image", "import", t.path() + "/devs.tar"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "hvrun: warning: 6 device nodes in " + t.path() +
                       "/devs.tar left out of the image (containers get /dev from a tmpfs)\n");
  EXPECT_EQ(trim(r.out).rfind("sha256:", 0), 0u) << r.out;
  std::string tar = t.path() + "/dev.tar";
  python(kHostileTar, {tar, "devices"});
  Result one = hv({"image", "import", tar});
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_NE(one.err.find("warning: 3 device nodes"), std::string::npos) << one.err;
  EXPECT_EQ(std::count(one.err.begin(), one.err.end(), '\n'), 1) << one.err;
  Result none = hv({"image", "import", busybox_rootfs(), "--name", "again"});
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(none.err, "") << "no device nodes, no warning";
}

TEST_F(ImageCli, DroppedDeviceNodesOfADirectoryImportAreCounted) {
  HVRUN_REQUIRE_ROOT();
  TempDir t;
  std::string dir = t.path() + "/fs";
  fs::create_directories(dir + "/dev");
  ASSERT_EQ(run({"mknod", dir + "/dev/null", "c", "1", "3"}).code, 0);
  ASSERT_EQ(run({"mknod", dir + "/dev/loop9", "b", "7", "9"}).code, 0);
  std::ofstream(dir + "/file") << "x";
  Result r = hv({"image", "import", dir, "--name", "withdevs"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: 2 device nodes in " + dir), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(ImageCli, WriteThroughASymlinkIsRefusedNamingTheSymlinkAndWhy) {
  TempDir t;
  std::string tar = t.path() + "/symlink.tar";
  python(kHostileTar, {tar, "symlink"});
  std::string before = snapshot(root());
  Result r = hv({"image", "import", tar, "--name", "through"});
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("refusing to write 'etc/passwd' through the symbolic link 'etc' -> '/host-etc'"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("does not lead to a directory inside the layer"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("No such file or directory"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(snapshot(root()), before);
}

TEST_F(ImageCli, ImportDashReadsADockerSaveArchiveFromStdinLikeDockerLoad) {
  TempDir t;
  std::string dir = t.path() + "/docker";
  python(kMakeImage, {dir, "docker", "good"});
  Result r = run({"sh", "-c", "cat \"$0\" | \"$1\" --root \"$2\" image import -", dir + ".tar", hvrun_bin(), root()});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = inspect1(root(), "dock/img:2");
  EXPECT_EQ(j["RootFS"]["Layers"].size(), 2u);
  EXPECT_EQ(trim(r.out), j["Id"].get<std::string>());
  EXPECT_EQ(trim(run({"sh", "-c", "ls -A \"$0\"/tmp", root()}).out), "") << "the spooled copy is gone";
}

TEST_F(ImageCli, ImportDashWithNothingOrJunkOnStdinIsOneLineAndTheStoreUnchanged) {
  std::string before = snapshot(root());
  Result empty = hv({"image", "import", "-"}, "");
  EXPECT_EQ(empty.code, 125);
  EXPECT_NE(empty.err.find("nothing on stdin"), std::string::npos) << empty.err;
  Result junk = hv({"image", "import", "-", "--name", "junk"}, "this is no archive\n");
  EXPECT_EQ(junk.code, 125);
  EXPECT_NE(junk.err.find("stdin: not a tar archive"), std::string::npos) << junk.err;
  EXPECT_EQ(junk.err.find("/tmp/"), std::string::npos) << "names stdin, not the staging file: " << junk.err;
  for (const Result& x : {empty, junk}) EXPECT_EQ(std::count(x.err.begin(), x.err.end(), '\n'), 1) << x.err;
  EXPECT_EQ(snapshot(root()), before);
}

TEST_F(ImageCli, OneReferenceFormEverywhereDockerHubSpellingsFindTheSameImage) {
  ASSERT_EQ(hv({"image", "import", busybox_rootfs(), "--name", "docker.io/library/bb:2"}).code, 0);
  Result ls = hv({"images"});
  EXPECT_NE(ls.out.find("\nbb "), std::string::npos) << ls.out;
  EXPECT_EQ(ls.out.find("docker.io"), std::string::npos) << ls.out;
  for (const char* ref : {"bb:2", "library/bb:2", "docker.io/library/bb:2"}) {
    Result r = hv({"--container", "--rm", "--net", "none", ref, "true"});
    EXPECT_EQ(r.code, 0) << ref << ": " << r.err;
  }
  ASSERT_EQ(hv({"tag", "docker.io/library/bb:2", "index.docker.io/library/bb:3"}).code, 0);
  EXPECT_EQ(inspect1(root(), "bb:3")["Id"], inspect1(root(), "bb:2")["Id"]);
  EXPECT_EQ(hv({"image", "rm", "library/bb:3"}).code, 0);
  EXPECT_NE(hv({"image", "inspect", "bb:3"}).code, 0);
  EXPECT_EQ(hv({"image", "inspect", "bb:2"}).code, 0);
}

TEST_F(ImageCli, NamesStoredInTheOldFullFormAreFoundByTheFamiliarOne) {
  Result imp = hv({"image", "import", busybox_rootfs(), "--name", "old:1"});
  ASSERT_EQ(imp.code, 0) << imp.err;
  // A store written before: repositories.json keyed by the full Hub name.
  std::string id = trim(imp.out).substr(7);
  std::ofstream(root() + "/repositories.json") << "{\"docker.io/library/old:1\": \"" << id << "\"}\n";
  Result r = hv({"--container", "--rm", "--net", "none", "old:1", "true"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(hv({"images"}).out.find("\nold "), std::string::npos);
}
