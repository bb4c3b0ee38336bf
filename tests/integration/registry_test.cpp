// hvrun pull/push/login/registry ls against Debian's docker-registry
// (distribution 2.8) started by each test on 127.0.0.1 (a free port): plain
// HTTP, TLS with a CA the test makes, htpasswd (bcrypt) and bearer-token auth
// (a small test-side token issuer; the registry itself is real), with skopeo
// as the second client in both directions.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "test_registry.hpp"

namespace hvrun::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// An OCI layout written without hvrun (make_oci_layout.py), for skopeo to push.
std::string make_layout(const std::string& dir, const std::string& args = "") {
  sh("/usr/bin/python3 " + source_dir() + "/tests/integration/make_oci_layout.py " + dir + " " + busybox_rootfs() + " " + args);
  return dir;
}

void skopeo_push(const TestRegistry& reg, const std::string& layout, const std::string& ref,
                 const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{"skopeo", "copy", "--quiet"};
  for (auto& f : reg.skopeo_tls("dest")) argv.push_back(f);
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("oci:" + layout + ":latest");
  argv.push_back("docker://" + reg.host() + "/" + ref);
  Result r = run(argv, "", 300);
  ASSERT_EQ(r.code, 0) << r.err;
}

// The image's manifest as the registry serves it (curl, a third client).
json raw_manifest(const TestRegistry& reg, const std::string& repo_tag, const std::string& accept = "") {
  std::string repo = repo_tag.substr(0, repo_tag.rfind(':')), tag = repo_tag.substr(repo_tag.rfind(':') + 1);
  std::string acc = accept.empty() ? "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json" : accept;
  return json::parse(sh("curl -sf -H 'Accept: " + acc + "' http://" + reg.host() + "/v2/" + repo + "/manifests/" + tag));
}

bool one_line_error(const Result& r) {
  std::string e = trim(r.err);
  return r.code == 125 && e.rfind("hvrun: ", 0) == 0 && e.find('\n') == std::string::npos;
}

class RegistryTest : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
    auth_ = std::make_unique<TempDir>();
  }
  std::string auth_file() const { return auth_->path() + "/auth.json"; }
  std::map<std::string, std::string> env() const {
    return {{"REGISTRY_AUTH_FILE", auth_file()}, {"HVRUN_NETWORK", "none"}};
  }
  // hvrun with a root of choice and the test's auth file.
  Result hx(const std::string& root, const std::vector<std::string>& args, const std::string& input = "", int t = 300) {
    std::vector<std::string> argv{hvrun_bin(), "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input, t, env());
  }
  Result hr(const std::vector<std::string>& args, const std::string& input = "", int t = 300) { return hx(root(), args, input, t); }
  // What the store holds: image ids with tags, and layer directories.
  std::string snapshot(const std::string& root) {
    Result r = hx(root, {"images", "--no-trunc"});
    std::set<std::string> layers;
    if (fs::exists(root + "/layers"))
      for (auto& e : fs::directory_iterator(root + "/layers")) layers.insert(e.path().filename());
    std::string s = r.out;
    for (auto& l : layers) s += "layer " + l + "\n";
    return s;
  }
  std::unique_ptr<TempDir> auth_;
};

TEST_F(RegistryTest, PushedImageIsReadBySkopeoAndRunsAndASecondRepoMountsItsBlobs) {
  TestRegistry reg;
  std::string ref = reg.host() + "/team/bb:1";
  Result p = hr({"push", "busybox", ref});
  ASSERT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_NE(p.out.find("Pushed"), std::string::npos) << p.out;
  std::string digest = p.out.substr(p.out.find("digest: ") + 8, 71);
  // skopeo reads it: same manifest digest, and its copy runs in hvrun.
  Result insp = run({"skopeo", "inspect", "--tls-verify=false", "docker://" + ref}, "", 60);
  ASSERT_EQ(insp.code, 0) << insp.err;
  EXPECT_EQ(json::parse(insp.out)["Digest"], digest);
  TempDir oci;
  Result cp = run({"skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + ref, "oci:" + oci.path() + ":x"}, "", 120);
  ASSERT_EQ(cp.code, 0) << cp.err;
  TempDir other;
  ASSERT_EQ(hx(other.path(), {"image", "import", oci.path(), "--name", "via-skopeo"}).code, 0);
  Result ran = hx(other.path(), {"run", "--rm", "--net", "none", "via-skopeo", "echo", "skopeo-copy-runs"});
  EXPECT_EQ(ran.code, 0) << ran.err;
  EXPECT_EQ(trim(ran.out), "skopeo-copy-runs");
  // The same image again: nothing to upload; to another repository: mounted.
  Result again = hr({"push", "busybox", ref});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("Layer already exists"), std::string::npos) << again.out;
  Result mount = hr({"push", "busybox", reg.host() + "/elsewhere/bb:2"});
  ASSERT_EQ(mount.code, 0) << mount.err;
  EXPECT_NE(mount.out.find("Mounted from team/bb"), std::string::npos) << mount.out;
  EXPECT_NE(reg.log().find("mount=sha256"), std::string::npos);
}

TEST_F(RegistryTest, PushWithDockerFormatWritesASchema2Manifest) {
  TestRegistry reg;
  ASSERT_EQ(hr({"push", "--format", "docker", "busybox", reg.host() + "/d:1"}).code, 0);
  json m = raw_manifest(reg, "d:1", "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(m["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(m["config"]["mediaType"], "application/vnd.docker.container.image.v1+json");
  TempDir other;
  ASSERT_EQ(hx(other.path(), {"pull", reg.host() + "/d:1"}).code, 0);
  Result ran = hx(other.path(), {"run", "--rm", "--net", "none", reg.host() + "/d:1", "echo", "v2s2"});
  EXPECT_EQ(trim(ran.out), "v2s2") << ran.err;
}

TEST_F(RegistryTest, SkopeoPushedGzipAndZstdImagesPullAndRun) {
  TestRegistry reg;
  TempDir tmp;
  // Two layouts (different random data): skopeo would otherwise reuse the
  // gzip blobs it already pushed instead of recompressing.
  std::string zst = make_layout(tmp.path() + "/zst", "--random 2:1");
  std::string gz = make_layout(tmp.path() + "/gz", "--random 2:1");
  skopeo_push(reg, zst, "zst:1", {"--dest-compress-format", "zstd"});
  skopeo_push(reg, gz, "gz:1");
  EXPECT_EQ(raw_manifest(reg, "gz:1")["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(raw_manifest(reg, "zst:1")["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
  for (const char* name : {"gz:1", "zst:1"}) {
    TempDir store;
    std::string ref = reg.host() + "/" + name;
    Result p = hx(store.path(), {"pull", ref});
    ASSERT_EQ(p.code, 0) << p.out << p.err;
    EXPECT_NE(p.out.find("Pull complete"), std::string::npos) << p.out;
    EXPECT_NE(p.out.find("Digest: sha256:"), std::string::npos) << p.out;
    Result ran = hx(store.path(), {"run", "--rm", "--net", "none", ref, "sh", "-c", "ls /data; echo ok"});
    EXPECT_EQ(ran.code, 0) << ran.err;
    EXPECT_EQ(ran.out, "random-0.bin\nrandom-1.bin\nok\n");
    // The kept blobs are the registry's: a push elsewhere keeps the digests.
    Result push = hx(store.path(), {"push", ref, reg.host() + "/copy-" + std::string(name)});
    ASSERT_EQ(push.code, 0) << push.err;
    json a = raw_manifest(reg, name), b = raw_manifest(reg, "copy-" + std::string(name));
    EXPECT_EQ(a["layers"], b["layers"]);
    EXPECT_EQ(a["config"]["digest"], b["config"]["digest"]);
  }
}

TEST_F(RegistryTest, PullOnATerminalRedrawsEachLayerWithBytesAndRate) {
  TestRegistry reg;
  TempDir tmp;
  skopeo_push(reg, make_layout(tmp.path() + "/lay", "--random 2:3"), "tty:1");
  Result r = run_in_pty({hvrun_bin(), "--root", root(), "pull", reg.host() + "/tty:1"}, {}, 120, 24, 160);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Downloading ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MB/3.15MB"), std::string::npos) << r.out;  // bytes of total
  EXPECT_NE(r.out.find("B/s"), std::string::npos) << r.out;        // rate
  EXPECT_NE(r.out.find("\x1b[2K"), std::string::npos) << r.out;   // lines redrawn in place
  EXPECT_NE(r.out.find("Pull complete"), std::string::npos) << r.out;
}

TEST_F(RegistryTest, PullPicksLinuxAmd64FromAnOciIndexAndADockerManifestList) {
  TestRegistry reg;
  TempDir tmp;
  std::string lay = make_layout(tmp.path() + "/lay", "--index");
  skopeo_push(reg, lay, "multi:1", {"--all"});
  json idx = raw_manifest(reg, "multi:1", "application/vnd.oci.image.index.v1+json");
  ASSERT_EQ(idx["manifests"].size(), 2u);
  Result p = hr({"pull", reg.host() + "/multi:1"});
  ASSERT_EQ(p.code, 0) << p.err;
  Result ran = hr({"run", "--rm", "--net", "none", reg.host() + "/multi:1", "sh", "-c", "echo $PICK"});
  EXPECT_EQ(trim(ran.out), "amd64") << ran.err;
  // The same as a docker manifest list of docker schema 2 manifests.
  skopeo_push(reg, lay, "dlist:1", {"--all", "--format", "v2s2"});
  json dl = raw_manifest(reg, "dlist:1", "application/vnd.docker.distribution.manifest.list.v2+json");
  ASSERT_EQ(dl["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json");
  TempDir other;
  ASSERT_EQ(hx(other.path(), {"pull", reg.host() + "/dlist:1"}).code, 0);
  Result ran2 = hx(other.path(), {"run", "--rm", "--net", "none", reg.host() + "/dlist:1", "sh", "-c", "echo $PICK"});
  EXPECT_EQ(trim(ran2.out), "amd64") << ran2.err;
}

TEST_F(RegistryTest, TlsRegistryWithHtpasswdNeedsLoginAndTrustsTheTestCa) {
  TestRegistry reg({.tls = true, .htpasswd = true});
  std::string ref = reg.host() + "/secure/bb:1";
  std::string before = snapshot(root());
  // No credentials: one line that says to log in.
  Result anon = hr({"push", "--cacert", reg.ca(), "busybox", ref});
  EXPECT_TRUE(one_line_error(anon)) << anon.err;
  EXPECT_NE(anon.err.find("hvrun login " + reg.host()), std::string::npos) << anon.err;
  // TLS verified against the system CAs only: the test CA is unknown.
  Result untrusted = hr({"login", "--tls-verify=true", "-u", kUser, "--password-stdin", reg.host()}, kPassword);
  EXPECT_TRUE(one_line_error(untrusted)) << untrusted.err;
  EXPECT_NE(untrusted.err.find("certificate"), std::string::npos) << untrusted.err;
  // A wrong password is refused and nothing is saved.
  Result wrong = hr({"login", "--cacert", reg.ca(), "-u", kUser, "--password-stdin", reg.host()}, "nope\n");
  EXPECT_TRUE(one_line_error(wrong)) << wrong.err;
  EXPECT_FALSE(fs::exists(auth_file()));
  Result ok = hr({"login", "--tls-verify=true", "--cacert", reg.ca(), "-u", kUser, "--password-stdin", reg.host()},
                 std::string(kPassword) + "\n");
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(trim(ok.out), "Login Succeeded");
  struct stat st {};
  ASSERT_EQ(::stat(auth_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(json::parse(slurp(auth_file()))["auths"].contains(reg.host()), true);
  Result push = hr({"push", "--tls-verify=true", "--cacert", reg.ca(), "busybox", ref});
  ASSERT_EQ(push.code, 0) << push.err;
  // The CA from a certs.d directory (here ROOT/certs.d/HOST/ca.crt) works as --cacert does.
  TempDir other;
  fs::create_directories(other.path() + "/certs.d/" + reg.host());
  fs::copy_file(reg.ca(), other.path() + "/certs.d/" + reg.host() + "/ca.crt");
  Result pull = hx(other.path(), {"pull", "--tls-verify=true", ref});
  ASSERT_EQ(pull.code, 0) << pull.err;
  Result ran = hx(other.path(), {"run", "--rm", "--net", "none", ref, "echo", "over-tls"});
  EXPECT_EQ(trim(ran.out), "over-tls") << ran.err;
  // skopeo with the same credentials and CA reads what hvrun pushed.
  Result sk = run({"skopeo", "inspect", "--cert-dir", reg.certdir(), "--creds", std::string(kUser) + ":" + kPassword,
                   "docker://" + ref}, "", 60);
  EXPECT_EQ(sk.code, 0) << sk.err;
  Result out = hr({"logout", reg.host()});
  EXPECT_EQ(out.code, 0);
  Result anon2 = hx(other.path(), {"pull", "--cacert", reg.ca(), ref});
  EXPECT_TRUE(one_line_error(anon2)) << anon2.err;
  EXPECT_EQ(snapshot(root()), before);
}

TEST_F(RegistryTest, BearerTokenAuthPushAndPull) {
  TestRegistry reg({.token = true});
  std::string ref = reg.host() + "/tok/bb:1";
  Result anon = hr({"push", "busybox", ref});
  EXPECT_TRUE(one_line_error(anon)) << anon.err;
  Result bad = hr({"push", "--creds", std::string(kUser) + ":wrong", "busybox", ref});
  EXPECT_TRUE(one_line_error(bad)) << bad.err;
  EXPECT_NE(bad.err.find("token service"), std::string::npos) << bad.err;
  ASSERT_EQ(hr({"login", "-u", kUser, "-p", kPassword, reg.host()}).code, 0);
  Result push = hr({"push", "busybox", ref});
  ASSERT_EQ(push.code, 0) << push.err;
  // A second repository: the token covers the mount source too.
  Result mount = hr({"push", "busybox", reg.host() + "/tok/other:1"});
  ASSERT_EQ(mount.code, 0) << mount.err;
  EXPECT_NE(mount.out.find("Mounted from tok/bb"), std::string::npos) << mount.out;
  TempDir other;
  Result pull = hx(other.path(), {"pull", ref});
  ASSERT_EQ(pull.code, 0) << pull.err;
  Result ls = hr({"registry", "ls", reg.host(), "tok/bb"});
  EXPECT_EQ(ls.out, reg.host() + "/tok/bb:1\n") << ls.err;
  Result ran = hx(other.path(), {"run", "--rm", "--net", "none", ref, "echo", "bearer"});
  EXPECT_EQ(trim(ran.out), "bearer") << ran.err;
}

TEST_F(RegistryTest, TamperedBlobIsRefusedAndNothingIsStored) {
  TestRegistry reg;
  TempDir tmp;
  std::string lay = make_layout(tmp.path() + "/lay", "--random 1:1");
  skopeo_push(reg, lay, "t:1");
  json m = raw_manifest(reg, "t:1");
  std::string hex = m["layers"][1]["digest"].get<std::string>().substr(7);
  // The registry's own data file, edited in place (same size).
  std::string data = reg.data() + "/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
  ASSERT_TRUE(fs::exists(data));
  sh("printf 'XXXXXXXX' | dd of=" + data + " bs=1 seek=100 conv=notrunc status=none");
  std::string before = snapshot(root());
  Result p = hr({"pull", reg.host() + "/t:1"});
  EXPECT_TRUE(one_line_error(p)) << p.err;
  EXPECT_NE(p.err.find("digest mismatch"), std::string::npos) << p.err;
  EXPECT_EQ(snapshot(root()), before);
  Result ran = hr({"run", "--rm", "--net", "none", "busybox", "echo", "still-here"});
  EXPECT_EQ(trim(ran.out), "still-here");
}

TEST_F(RegistryTest, BadInputFailsWithOneLineAndKeepsTheStore) {
  TestRegistry reg;
  ASSERT_EQ(hr({"push", "busybox", reg.host() + "/ok:1"}).code, 0);
  std::string before = snapshot(root());
  // A manifest type hvrun does not read, from a stand-in registry.
  TempDir fake;
  std::string script =
      "import http.server,sys\n"
      "class H(http.server.BaseHTTPRequestHandler):\n"
      "  def log_message(self,*a): pass\n"
      "  def do_GET(self):\n"
      "    b=b'{}' if self.path=='/v2/' else b'{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example.thing.v1+json\"}'\n"
      "    self.send_response(200)\n"
      "    self.send_header('Content-Type','application/json' if self.path=='/v2/' else 'application/vnd.example.thing.v1+json')\n"
      "    self.send_header('Content-Length',str(len(b)))\n"
      "    self.end_headers(); self.wfile.write(b)\n"
      "s=http.server.HTTPServer(('127.0.0.1',0),H)\n"
      "open(sys.argv[1]+'.t','w').write(str(s.server_address[1])); import os; os.rename(sys.argv[1]+'.t',sys.argv[1])\n"
      "s.serve_forever()\n";
  std::ofstream(fake.path() + "/srv.py") << script;
  Process srv({"/usr/bin/python3", fake.path() + "/srv.py", fake.path() + "/port"}, fake.path() + "/log");
  for (int i = 0; i < 500 && !fs::exists(fake.path() + "/port"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::string fake_host = "127.0.0.1:" + slurp(fake.path() + "/port");
  int dead = free_port();
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  std::vector<Case> cases = {
      {{"pull", "127.0.0.1:" + std::to_string(dead) + "/x:1"}, "127.0.0.1:" + std::to_string(dead)},
      {{"pull", reg.host() + "/missing:1"}, "manifest unknown"},
      {{"pull", reg.host() + "/ok:nosuchtag"}, "manifest unknown"},
      {{"pull", "Not A/Reference"}, "invalid reference format"},
      {{"pull", fake_host + "/x:1"}, "unsupported manifest media type 'application/vnd.example.thing.v1+json'"},
      {{"push", "nosuchimage:1", reg.host() + "/x:1"}, "no such image"},
      {{"push", "busybox", "127.0.0.1:" + std::to_string(dead) + "/x:1"}, "127.0.0.1:" + std::to_string(dead)},
      {{"push", "busybox", "UPPER/x"}, "invalid reference format"},
      {{"login", "-u", "x", "--password-stdin", "127.0.0.1:" + std::to_string(dead)}, "127.0.0.1"},
      {{"registry", "ls", "127.0.0.1:" + std::to_string(dead)}, "127.0.0.1"},
      {{"logout", "never.example:5000"}, "not logged in"},
  };
  for (auto& c : cases) {
    Result r = hr(c.args, "pw\n", 60);
    std::string line;
    for (auto& a : c.args) line += a + " ";
    EXPECT_TRUE(one_line_error(r)) << line << " -> " << r.code << " " << r.err << r.out;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << line << " -> " << r.err;
  }
  EXPECT_EQ(snapshot(root()), before);
}

TEST_F(RegistryTest, PullRetriesALayerWhoseFirstDownloadGot500) {
  TempDir tmp;
  std::string lay = make_layout(tmp.path() + "/lay", "--random 1:1");
  // A stand-in registry serving the layout; the first GET of each layer blob
  // (over 100 kB) answers 500.
  std::string script =
      "import http.server,json,os,sys\n"
      "lay=sys.argv[1]; failed=set(); hits={}\n"
      "top=json.load(open(lay+'/index.json'))['manifests'][0]['digest'][7:]\n"
      "class H(http.server.BaseHTTPRequestHandler):\n"
      "  def log_message(self,*a): pass\n"
      "  def do_GET(self):\n"
      "    ct='application/octet-stream'\n"
      "    if self.path=='/v2/': b=b'{}'\n"
      "    elif '/manifests/' in self.path: b=open(lay+'/blobs/sha256/'+top,'rb').read(); ct='application/vnd.oci.image.manifest.v1+json'\n"
      "    elif '/blobs/sha256:' in self.path:\n"
      "      h=self.path.split('sha256:')[1]; b=open(lay+'/blobs/sha256/'+h,'rb').read()\n"
      "      if len(b)>100000 and h not in failed:\n"
      "        failed.add(h); self.send_response(500); self.send_header('Content-Length','0'); self.end_headers(); return\n"
      "    else: self.send_response(404); self.send_header('Content-Length','0'); self.end_headers(); return\n"
      "    self.send_response(200); self.send_header('Content-Type',ct); self.send_header('Content-Length',str(len(b))); self.end_headers(); self.wfile.write(b)\n"
      "s=http.server.ThreadingHTTPServer(('127.0.0.1',0),H)\n"
      "open(sys.argv[2]+'.t','w').write(str(s.server_address[1])); os.rename(sys.argv[2]+'.t',sys.argv[2])\n"
      "s.serve_forever()\n";
  std::ofstream(tmp.path() + "/srv.py") << script;
  Process srv({"/usr/bin/python3", tmp.path() + "/srv.py", lay, tmp.path() + "/port"}, tmp.path() + "/log");
  for (int i = 0; i < 500 && !fs::exists(tmp.path() + "/port"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::string ref = "127.0.0.1:" + slurp(tmp.path() + "/port") + "/flaky:1";
  Result p = hr({"pull", ref});
  ASSERT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_NE(p.out.find("Retrying in 1 second"), std::string::npos) << p.out;
  Result ran = hr({"run", "--rm", "--net", "none", ref, "ls", "/data"});
  EXPECT_EQ(trim(ran.out), "random-0.bin") << ran.err;
}

// The big image for the kill and concurrency tests: busybox and one 160 MB layer.
class BigImage {
 public:
  BigImage(const TestRegistry& reg, const std::string& name) {
    make_layout(tmp_.path() + "/lay", "--random 1:160");
    skopeo_push(reg, tmp_.path() + "/lay", name);
    json m = raw_manifest(reg, name);
    big_hex = m["layers"][1]["digest"].get<std::string>().substr(7);
    big_size = m["layers"][1]["size"].get<uint64_t>();
  }
  std::string big_hex;
  uint64_t big_size = 0;

 private:
  TempDir tmp_;
};

// The size of the first file under `dir` whose name contains `part` (0: none).
uint64_t find_file_size(const std::string& dir, const std::string& part) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->path().string().find(part) != std::string::npos && it->is_regular_file(ec)) return it->file_size(ec);
  }
  return 0;
}

TEST_F(RegistryTest, KilledPullLeavesTheStoreIntactAndTheNextPullCompletes) {
  TestRegistry reg;
  BigImage big(reg, "big:1");
  std::string before = snapshot(root());
  Process pull({hvrun_bin(), "--root", root(), "pull", reg.host() + "/big:1"}, auth_->path() + "/pull.log", env());
  // Half-way through the big layer, freeze the registry, then kill the pull.
  auto t0 = std::chrono::steady_clock::now();
  uint64_t got = 0;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    got = find_file_size(root() + "/tmp", "download-" + big.big_hex);
    if (got > (4u << 20)) break;
  }
  reg.process().signal(SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  uint64_t at_kill = find_file_size(root() + "/tmp", "download-" + big.big_hex);
  pull.signal(SIGKILL);
  EXPECT_EQ(pull.wait(), 137);
  reg.process().signal(SIGCONT);
  ASSERT_GT(got, 0u) << "the download never started";
  EXPECT_LT(at_kill, big.big_size) << "the pull finished its download before it could be killed";
  EXPECT_EQ(snapshot(root()), before);
  Result again = hr({"pull", reg.host() + "/big:1"});
  ASSERT_EQ(again.code, 0) << again.err;
  Result ran = hr({"run", "--rm", "--net", "none", reg.host() + "/big:1", "sh", "-c", "wc -c < /data/random-0.bin"});
  EXPECT_EQ(trim(ran.out), std::to_string(160u << 20)) << ran.err;
  // What the killed pull left in tmp/ was cleaned by the next one.
  EXPECT_EQ(find_file_size(root() + "/tmp", "download-"), 0u);
}

TEST_F(RegistryTest, KilledPushLeavesTheStoreIntactAndTheNextPushCompletes) {
  TestRegistry src;
  BigImage big(src, "big:1");
  ASSERT_EQ(hr({"pull", src.host() + "/big:1"}).code, 0);
  TestRegistry dst;
  std::string before = snapshot(root());
  std::string ref = dst.host() + "/pushed/big:1";
  Process push({hvrun_bin(), "--root", root(), "push", src.host() + "/big:1", ref}, auth_->path() + "/push.log", env());
  auto t0 = std::chrono::steady_clock::now();
  uint64_t got = 0;
  std::string uploads = dst.data() + "/docker/registry/v2/repositories/pushed/big/_uploads";
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    if (fs::exists(uploads)) got = find_file_size(uploads, "/data");
    if (got > (4u << 20)) break;
  }
  dst.process().signal(SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  push.signal(SIGKILL);
  EXPECT_EQ(push.wait(), 137);
  dst.process().signal(SIGCONT);
  ASSERT_GT(got, 0u) << "the upload never started";
  Result head = run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://" + dst.host() + "/v2/pushed/big/manifests/1"});
  EXPECT_EQ(head.out, "404") << "the manifest went up before the kill";
  EXPECT_EQ(snapshot(root()), before);
  Result again = hr({"push", src.host() + "/big:1", ref});
  ASSERT_EQ(again.code, 0) << again.err;
  TempDir other;
  Result pull = hx(other.path(), {"pull", ref});
  ASSERT_EQ(pull.code, 0) << pull.err;
  Result ran = hx(other.path(), {"run", "--rm", "--net", "none", ref, "sh", "-c", "wc -c < /data/random-0.bin"});
  EXPECT_EQ(trim(ran.out), std::to_string(160u << 20)) << ran.err;
}

TEST_F(RegistryTest, ConcurrentPullsDownloadASharedLayerOnce) {
  TestRegistry reg;
  BigImage big(reg, "big:1");
  Process a({hvrun_bin(), "--root", root(), "pull", reg.host() + "/big:1"}, auth_->path() + "/a.log", env());
  Process b({hvrun_bin(), "--root", root(), "pull", reg.host() + "/big:1"}, auth_->path() + "/b.log", env());
  EXPECT_EQ(a.wait(), 0) << slurp(auth_->path() + "/a.log");
  EXPECT_EQ(b.wait(), 0) << slurp(auth_->path() + "/b.log");
  std::string log = reg.log(), needle = "\"GET /v2/big/blobs/sha256:" + big.big_hex + " HTTP/1.1\" 200";
  size_t n = 0;
  for (size_t p = log.find(needle); p != std::string::npos; p = log.find(needle, p + 1)) ++n;
  EXPECT_EQ(n, 1u) << log;
  Result ran = hr({"run", "--rm", "--net", "none", reg.host() + "/big:1", "sh", "-c", "wc -c < /data/random-0.bin"});
  EXPECT_EQ(trim(ran.out), std::to_string(160u << 20)) << ran.err;
}

TEST_F(RegistryTest, CatalogAndTagsFollowPaginationLinks) {
  TestRegistry reg;
  for (const char* r : {"a/one:1", "a/one:2", "a/one:3", "b/two:1", "c:1"})
    ASSERT_EQ(hr({"push", "-q", "busybox", reg.host() + "/" + r}).code, 0);
  Result ls = hr({"registry", "ls", "--page-size", "1", reg.host()});
  ASSERT_EQ(ls.code, 0) << ls.err;
  EXPECT_EQ(ls.out, reg.host() + "/a/one\n" + reg.host() + "/b/two\n" + reg.host() + "/c\n");
  Result tags = hr({"registry", "ls", "--page-size", "2", reg.host(), "a/one"});
  ASSERT_EQ(tags.code, 0) << tags.err;
  EXPECT_EQ(tags.out, reg.host() + "/a/one:1\n" + reg.host() + "/a/one:2\n" + reg.host() + "/a/one:3\n");
  // Paged: more than one catalog request was made.
  std::string log = reg.log();
  EXPECT_NE(log.find("GET /v2/_catalog?last="), std::string::npos) << log;
  Result search = hr({"search", reg.host() + "/a/"});
  ASSERT_EQ(search.code, 0) << search.err;
  EXPECT_NE(search.out.find(reg.host() + "/a/one"), std::string::npos) << search.out;
  EXPECT_EQ(search.out.find("b/two"), std::string::npos) << search.out;
}

}  // namespace
}  // namespace hvrun::test
