// The registry client's pure parts: references as a registry sees them, the
// insecure-host rule, Link pagination, credentials file handling, progress.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "registry/auth.hpp"
#include "registry/catalog.hpp"
#include "registry/client.hpp"
#include "registry/progress.hpp"
#include "registry/target.hpp"
#include "util/error.hpp"

namespace hvrun::registry {
namespace {

namespace fs = std::filesystem;

TEST(RegistryTarget, DockerHubNamesGetTheHubHostAndLibraryPrefix) {
  Target t = target_of("busybox");
  EXPECT_EQ(t.host, "registry-1.docker.io");
  EXPECT_EQ(t.repo, "library/busybox");
  EXPECT_EQ(t.tag, "latest");
  EXPECT_EQ(t.name, "busybox:latest");
  Target u = target_of("127.0.0.1:5000/team/app:v2");
  EXPECT_EQ(u.host, "127.0.0.1:5000");
  EXPECT_EQ(u.repo, "team/app");
  EXPECT_EQ(u.tag, "v2");
  EXPECT_EQ(target_of("user/app").repo, "user/app");
  EXPECT_THROW(target_of("Not/Valid"), Error);
}

TEST(RegistryTarget, LayerMediaTypesHvrunUnpacks) {
  EXPECT_TRUE(media::is_layer_type("application/vnd.oci.image.layer.v1.tar+zstd"));
  EXPECT_TRUE(media::is_layer_type("application/vnd.oci.image.layer.v1.tar+gzip"));
  EXPECT_TRUE(media::is_layer_type("application/vnd.docker.image.rootfs.diff.tar.gzip"));
  EXPECT_FALSE(media::is_layer_type("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"));
  EXPECT_FALSE(media::is_layer_type("application/octet-stream"));
}

TEST(RegistryClient, LoopbackAndListedHostsAreInsecureByDefault) {
  EXPECT_TRUE(is_insecure_default("127.0.0.1:5000", ""));
  EXPECT_TRUE(is_insecure_default("localhost:5000", ""));
  EXPECT_FALSE(is_insecure_default("quay.io", ""));
  ::setenv("HVRUN_INSECURE_REGISTRIES", "reg.lan:5000, other.lan", 1);
  EXPECT_TRUE(is_insecure_default("reg.lan:5000", ""));
  EXPECT_TRUE(is_insecure_default("other.lan:443", ""));
  EXPECT_FALSE(is_insecure_default("reg.lan:6000", ""));
  ::unsetenv("HVRUN_INSECURE_REGISTRIES");
  char tmpl[] = "/tmp/hvrun-reg-unit.XXXXXX";
  std::string root = ::mkdtemp(tmpl);
  std::ofstream(root + "/insecure-registries") << "# comment\nfile.lan:5000\n";
  EXPECT_TRUE(is_insecure_default("file.lan:5000", root));
  EXPECT_FALSE(is_insecure_default("file.lan:5001", root));
  fs::remove_all(root);
}

TEST(RegistryCatalog, NextLinkIsTheRelNextTarget) {
  EXPECT_EQ(next_link("</v2/_catalog?last=b&n=2>; rel=\"next\""), "/v2/_catalog?last=b&n=2");
  EXPECT_EQ(next_link("</v2/x/tags/list?n=1&last=1>; rel=\"prev\", </v2/x/tags/list?n=1&last=3>; rel=\"next\""),
            "/v2/x/tags/list?n=1&last=3");
  EXPECT_EQ(next_link(""), "");
  EXPECT_EQ(next_link("</a>; rel=\"prev\""), "");
}

TEST(RegistryAuth, Base64RoundTripsAndRefusesGarbage) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "alice:s3cret", std::string("\0\xff:x", 4)})
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  EXPECT_EQ(base64_encode("alice:s3cret"), "YWxpY2U6czNjcmV0");
  EXPECT_THROW(base64_decode("a*b"), Error);
}

TEST(RegistryAuth, CredentialsAreKeptMode0600AndOtherEntriesSurvive) {
  char tmpl[] = "/tmp/hvrun-auth-unit.XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string file = dir + "/sub/auth.json";
  ::setenv("REGISTRY_AUTH_FILE", file.c_str(), 1);
  EXPECT_FALSE(load_credentials("a.lan:5000"));
  store_credentials("a.lan:5000", {"alice", "pw:with:colons"});
  store_credentials("b.lan", {"bob", "x"});
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto a = load_credentials("a.lan:5000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->user, "alice");
  EXPECT_EQ(a->password, "pw:with:colons");
  EXPECT_TRUE(remove_credentials("a.lan:5000"));
  EXPECT_FALSE(remove_credentials("a.lan:5000"));
  EXPECT_FALSE(load_credentials("a.lan:5000"));
  EXPECT_TRUE(load_credentials("b.lan"));
  // docker's key forms name the same registry.
  std::ofstream(file) << R"({"auths": {"https://c.lan/v1/": {"auth": "Ym9iOnk="}}})";
  auto c = load_credentials("c.lan");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->password, "y");
  std::ofstream(file) << "not json";
  EXPECT_THROW(load_credentials("c.lan"), Error);
  ::unsetenv("REGISTRY_AUTH_FILE");
  fs::remove_all(dir);
}

TEST(RegistryProgress, PlainLinesWhenNotATerminal) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = ::open_memstream(&buf, &len);
  {
    Progress p(f, 0);
    size_t i = p.add("abc", "Pulling fs layer", 100);
    p.bytes(i, "Downloading", 10);
    p.bytes(i, "Downloading", 50);  // no line per chunk
    p.status(i, "Download complete");
    p.message("Digest: sha256:x");
  }
  std::fclose(f);
  EXPECT_EQ(std::string(buf, len),
            "abc: Pulling fs layer\nabc: Downloading\nabc: Download complete\nDigest: sha256:x\n");
  std::free(buf);
}

TEST(RegistryProgress, TerminalRedrawsTheLayerLineWithBytesAndRate) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = ::open_memstream(&buf, &len);
  {
    Progress p(f, 1);
    size_t i = p.add("abc", "Pulling fs layer", 2000000);
    p.add("def", "Pulling fs layer", 10);
    p.bytes(i, "Downloading", 1000000);
    p.bytes(i, "Downloading", 2000000);
  }
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  EXPECT_NE(out.find("\x1b[2A"), std::string::npos) << out;  // up two lines to the first layer
  EXPECT_NE(out.find("2MB/2MB"), std::string::npos) << out;
  EXPECT_NE(out.find("abc: Downloading ["), std::string::npos) << out;
}

TEST(RegistryProgress, HumanSizesAreDecimalLikeDockers) {
  EXPECT_EQ(human_size(999), "999B");
  EXPECT_EQ(human_size(1500), "1.5kB");
  EXPECT_EQ(human_size(12300000), "12.3MB");
}

}  // namespace
}  // namespace hvrun::registry
