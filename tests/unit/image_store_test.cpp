// Image store: refs, import/resolve/tag/rm, layer sharing, vm disks.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "image/flatten.hpp"
#include "image/digest.hpp"
#include "image/layer.hpp"
#include "image/prune.hpp"
#include "image/store.hpp"
#include "util/fs.hpp"
#include "tests/unit/image_test_util.hpp"
#include "util/error.hpp"
#include "util/lock.hpp"

using namespace hvrun;
using namespace hvrun::image;
using namespace hvrun::image::testing;

TEST(ImageRef, NormalizeAddsLatestAndKeepsValidRefs) {
  EXPECT_EQ(normalize_ref("busybox"), "busybox:latest");
  EXPECT_EQ(normalize_ref("foo/bar:1.0"), "foo/bar:1.0");
  EXPECT_EQ(normalize_ref("localhost:5000/x/y_z:v-1"), "localhost:5000/x/y_z:v-1");
  EXPECT_EQ(normalize_ref("registry.example.com/a__b:T_1"), "registry.example.com/a__b:T_1");
}

TEST(ImageRef, DockerHubNamesTakeTheirFamiliarFormAsDockerShowsThem) {
  for (const char* same : {"x:2", "library/x:2", "docker.io/library/x:2", "index.docker.io/library/x:2",
                           "registry-1.docker.io/library/x:2"})
    EXPECT_EQ(normalize_ref(same), "x:2") << same;
  EXPECT_EQ(normalize_ref("docker.io/library/x"), "x:latest");
  EXPECT_EQ(normalize_ref("docker.io/user/app:1"), "user/app:1");
  EXPECT_EQ(normalize_ref("quay.io/library/x:2"), "quay.io/library/x:2");  // only Docker Hub's
  EXPECT_EQ(normalize_ref("library/a/b:1"), "library/a/b:1");
  EXPECT_THROW(normalize_ref("docker.io/library/" + std::string(64, 'a')), Error);
}

// Found by tests/fuzz/cli_values: a 255-character name without a tag was
// accepted, and its normal form (with ":latest", 262 characters) refused.
// The limit is the name's (Docker's NameTotalLengthMax), the tag apart.
TEST(ImageRef, TheNameLimitIs255CharactersTagApartSoANormalFormAlwaysParses) {
  const std::string name = std::string(127, 'a') + "/" + std::string(127, 'b');
  ASSERT_EQ(name.size(), 255u);
  EXPECT_EQ(normalize_ref(name), name + ":latest");
  EXPECT_EQ(normalize_ref(normalize_ref(name)), name + ":latest");
  EXPECT_EQ(normalize_ref(name + ":" + std::string(128, 't')), name + ":" + std::string(128, 't'));
  EXPECT_THROW(normalize_ref(name + "c"), Error);
  EXPECT_THROW(normalize_ref(name + "c:v1"), Error);
}

// Found by tests/fuzz/cli_values: "docker.io/registry-1.docker.io/a/b" lost
// its Hub domain and its normal form, "registry-1.docker.io/a/b", then
// normalized to "a/b": another image. The Hub's domain now stays when the
// path's first part reads as a domain.
TEST(ImageRef, AHubPathThatLooksLikeADomainKeepsTheHubDomainSoTheNormalFormIsAFixedPoint) {
  for (const std::string ref : {"docker.io/registry-1.docker.io/a/b", "index.docker.io/quay.io/x/y:2",
                                "registry-1.docker.io/localhost/x/y"}) {
    const std::string n = normalize_ref(ref);
    EXPECT_EQ(n.rfind("docker.io/", 0), 0u) << ref << " -> " << n;
    EXPECT_EQ(normalize_ref(n), n) << ref;
  }
  EXPECT_EQ(normalize_ref("docker.io/quay.io/x:2"), "docker.io/quay.io/x:2");
  EXPECT_EQ(normalize_ref("docker.io/user/app:1"), "user/app:1");
}

TEST(ImageRef, NormalizeRejectsBadRefs) {
  for (const std::string& bad : std::vector<std::string>{"", "Upper", "a b", "foo:", ":tag", "foo@sha256:abc", "-lead", "a//b", "a/b/", "x:t@g",
                          std::string(64, 'a')}) {
    EXPECT_THROW(normalize_ref(bad), Error) << bad;
  }
  try {
    normalize_ref("Bad");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid reference format"), std::string::npos);
  }
}

namespace {
std::string make_rootfs(const std::string& dir, const std::string& marker) {
  mkdir_p(dir + "/bin");
  ::chmod(dir.c_str(), 0750);
  mkdir_p(dir + "/etc");
  write_file_atomic(dir + "/etc/marker", marker);
  write_file_atomic(dir + "/bin/tool", "#!/bin/sh\n", 0755);
  (void)::symlink("tool", (dir + "/bin/alias").c_str());
  return dir;
}
}  // namespace

TEST(ImageStore, DirectoryImportResolvesByNameIdAndPrefix) {
  Tmp t;
  Store s(t.path + "/root");
  auto rec = s.import(make_rootfs(t.path + "/fs", "one"), "demo:1");
  EXPECT_EQ(rec.tags, std::vector<std::string>{"demo:1"});
  EXPECT_EQ(rec.config.cmd, std::vector<std::string>{"/bin/sh"});
  ASSERT_EQ(rec.config.env.size(), 1u);
  EXPECT_EQ(rec.config.env[0].rfind("PATH=", 0), 0u);
  EXPECT_EQ(s.resolve("demo:1").id, rec.id);
  EXPECT_EQ(s.resolve(rec.id).id, rec.id);
  EXPECT_EQ(s.resolve("sha256:" + rec.id).id, rec.id);
  EXPECT_EQ(s.resolve(rec.id.substr(0, 8)).id, rec.id);
  auto dirs = s.layer_dirs(rec);
  ASSERT_EQ(dirs.size(), 1u);
  EXPECT_EQ(read_file(dirs[0] + "/etc/marker"), "one");
  struct stat st;
  ASSERT_EQ(::stat(dirs[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u) << "layer root takes the imported root's mode";
  try {
    s.resolve("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "no such image: nope");
  }
}

TEST(ImageStore, SameContentTwiceSharesLayerAndId) {
  Tmp t;
  Store s(t.path + "/root");
  auto a = s.import(make_rootfs(t.path + "/fs", "x"), "a");
  auto b = s.import(t.path + "/fs", "b");
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(s.list().size(), 1u);
  EXPECT_EQ(s.resolve("b").tags.size(), 2u);
}

TEST(ImageStore, RemoveUntagsThenDeletesAndCollectsUnusedLayers) {
  Tmp t;
  Store s(t.path + "/root");
  auto a = s.import(make_rootfs(t.path + "/fs", "x"), "a");
  s.tag("a", "b:2");
  EXPECT_EQ(s.remove("a"), std::vector<std::string>{"Untagged: a:latest"});
  EXPECT_TRUE(exists(s.layer_dir(a.layers[0])));
  auto out = s.remove("b:2");
  EXPECT_EQ(out.back(), "Deleted: sha256:" + a.id);
  EXPECT_FALSE(exists(s.layer_dir(a.layers[0])));
  EXPECT_FALSE(exists(s.image_dir(a.id)));
  EXPECT_THROW(s.resolve(a.id), Error);
}

TEST(ImageStore, RemoveRefusedWhileContainerUsesImageUnlessForced) {
  Tmp t;
  Store s(t.path + "/root");
  auto a = s.import(make_rootfs(t.path + "/fs", "x"), "a");
  mkdir_p(s.root() + "/containers/c0ffee");
  write_file_atomic(s.root() + "/containers/c0ffee/config.json", R"({"image_id":")" + a.id + R"("})");
  try {
    s.remove("a");
    FAIL() << "remove should be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by container c0ffee"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.resolve("a").id, a.id);
  s.remove("a", true);
  EXPECT_THROW(s.resolve("a"), Error);
}

TEST(ImageStore, RemoveAndPruneKeepAnImageAVmSnapshotNeedsUnlessForced) {
  Tmp t;
  Store s(t.path + "/root");
  auto a = s.import(make_rootfs(t.path + "/fs", "x"), "a");
  mkdir_p(s.root() + "/snapshots/counted");
  write_file_atomic(s.root() + "/snapshots/counted/snapshot.json", R"({"name":"counted","image_id":")" + a.id + R"("})");
  mkdir_p(s.root() + "/snapshots/.tmp-half");  // one being made: no record yet
  EXPECT_EQ(image_users(s.root()), (std::vector<std::pair<std::string, std::string>>{{"snapshot counted", a.id}}));
  EXPECT_EQ(images_in_use(s), std::set<std::string>{a.id});
  try {
    s.remove("a");
    FAIL() << "remove should be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by snapshot counted; remove the snapshot first, or use -f"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(s.resolve("a").id, a.id);
  s.remove("a", true);
  EXPECT_THROW(s.resolve("a"), Error);
}

TEST(ImageStore, StaleStagingAndOrphanLayersFromKilledImportAreCleanedAtNextMutation) {
  Tmp t;
  Store s(t.path + "/root");
  auto a = s.import(make_rootfs(t.path + "/fs", "x"), "a");
  std::string orphan = s.layer_dir(std::string(64, 'e'));
  mkdir_p(orphan + "/diff");
  mkdir_p(s.tmp_dir() + "/deadbeef/layers/new-0/diff");  // as left by kill -9 (its flock died with it)
  write_file_atomic(s.tmp_dir() + "/deadbeef.lock", "");
  s.tag("a", "b");
  EXPECT_FALSE(exists(s.tmp_dir() + "/deadbeef"));
  EXPECT_FALSE(exists(s.tmp_dir() + "/deadbeef.lock"));
  EXPECT_FALSE(exists(orphan));
  EXPECT_TRUE(exists(s.layer_dir(a.layers[0]) + "/diff/etc/marker"));
}

TEST(ImageStore, LiveStagingOfAnotherImportIsNotCleaned) {
  Tmp t;
  Store s(t.path + "/root");
  s.import(make_rootfs(t.path + "/fs", "x"), "a");
  mkdir_p(s.tmp_dir() + "/cafe");
  hvrun::FileLock live(s.tmp_dir() + "/cafe.lock");  // an import in progress holds this
  s.tag("a", "b");
  EXPECT_TRUE(exists(s.tmp_dir() + "/cafe"));
}

TEST(ImageFlatten, ApplyLayerHonoursWhiteoutsAndOpaqueDirs) {
  Tmp t;
  std::string l1 = t.path + "/l1", l2 = t.path + "/l2", out = t.path + "/out";
  mkdir_p(l1 + "/a");
  mkdir_p(l1 + "/b");
  mkdir_p(l2 + "/b");
  mkdir_p(out);
  write_file_atomic(l1 + "/a/x", "x");
  write_file_atomic(l1 + "/b/y", "y");
  write_file_atomic(l1 + "/keep", "k1");
  write_file_atomic(l2 + "/keep", "k2");
  write_file_atomic(l2 + "/b/z", "z");
  ASSERT_EQ(::mknod((l2 + "/a").c_str(), S_IFCHR, makedev(0, 0)), 0);
  ASSERT_EQ(::setxattr((l2 + "/b").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  apply_layer(l1, out);
  apply_layer(l2, out);
  EXPECT_FALSE(exists(out + "/a"));
  EXPECT_FALSE(exists(out + "/b/y"));
  EXPECT_EQ(read_file(out + "/b/z"), "z");
  EXPECT_EQ(read_file(out + "/keep"), "k2");
  EXPECT_EQ(read_file(l1 + "/keep"), "k1");  // layers are never modified
}

TEST(ImageFlatten, VmDiskIsBuiltOnceAndContainsTheImageFiles) {
  Tmp t;
  Store s(t.path + "/root");
  auto rec = s.import(make_rootfs(t.path + "/fs", "vm"), "vm");
  mkdir_p(s.root() + "/vmdisks");
  std::string stale = s.root() + "/vmdisks/.tmp-" + rec.id.substr(0, 12) + "-dead.ext4";  // a killed build
  write_file_atomic(stale, "partial");
  std::string disk = ensure_vm_disk(s, rec);
  EXPECT_FALSE(exists(stale));
  EXPECT_EQ(disk, s.root() + "/vmdisks/" + rec.id + ".ext4");
  struct stat st1;
  ASSERT_EQ(::stat(disk.c_str(), &st1), 0);
  EXPECT_GE(st1.st_size, 16 << 20);
  ASSERT_EQ(sh("debugfs -R 'ls -l /bin' " + disk + " 2>/dev/null | grep -q ' tool'"), 0);
  ASSERT_EQ(sh("debugfs -R 'cat /etc/marker' " + disk + " 2>/dev/null | grep -qx vm"), 0);
  EXPECT_EQ(ensure_vm_disk(s, rec), disk);
  struct stat st2;
  ASSERT_EQ(::stat(disk.c_str(), &st2), 0);
  EXPECT_EQ(st1.st_ino, st2.st_ino) << "cached disk was rebuilt";
  s.remove("vm");
  EXPECT_FALSE(exists(disk));
}

// save and push send the kept blob: it must be the layer exactly as it came
// (gzip, zstd, plain) with the digest a manifest would name, or the
// decompressed tar (digest = diff id) for compressions OCI has no type for.
TEST(ImageStore, EachLayerKeepsItsBlobAsDistributedWithDigestSizeAndMediaType) {
  Tmp t;
  Store s(t.path + "/root");
  std::vector<TarEntry> files = {{"bin/", AE_IFDIR, 0755}, {"bin/sh", AE_IFREG, 0755, "#!x"}};
  struct Case {
    std::string filter, media_type;
  };
  for (const Case& c : {Case{"gzip", kLayerTarGzip}, Case{"zstd", kLayerTarZstd}, Case{"none", kLayerTar}}) {
    std::string tar = t.path + "/l-" + c.filter + ".tar";
    files[1].data = "#!" + c.filter;  // a different layer each time
    write_tar(tar, files, c.filter);
    auto img = s.import(tar, "k:" + c.filter);
    ASSERT_EQ(img.layers.size(), 1u);
    LayerBlob b = s.layer_blob(img.layers[0]);
    EXPECT_EQ(b.media_type, c.media_type) << c.filter;
    EXPECT_EQ(read_file(b.path), read_file(tar)) << c.filter;
    EXPECT_EQ(b.digest, sha256_hex(read_file(tar))) << c.filter;
    EXPECT_EQ(b.size, read_file(tar).size()) << c.filter;
  }
  std::string xz = t.path + "/l.tar.xz";
  files[1].data = "#!xz";
  write_tar(xz, files, "xz");
  auto img = s.import(xz, "k:xz");
  LayerBlob b = s.layer_blob(img.layers[0]);
  EXPECT_EQ(b.media_type, kLayerTar);
  EXPECT_EQ(b.digest, img.layers[0]) << "a decompressed tar's digest is the diff id";
  EXPECT_EQ(sha256_hex(read_file(b.path)), img.layers[0]);
}

TEST(ImageStore, LayerBlobOfALayerStoredWithoutOneSaysHowToGetIt) {
  Tmp t;
  Store s(t.path + "/root");
  auto img = s.import(make_rootfs(t.path + "/fs", "x"), "old");
  std::string dir = s.layer_dir(img.layers[0]);
  write_file_atomic(dir + "/layer.json", "{\"diff_id\":\"sha256:" + img.layers[0] + "\",\"size\":1}\n");
  ::unlink((dir + "/blob").c_str());
  try {
    s.layer_blob(img.layers[0]);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("import or pull it again"), std::string::npos) << e.what();
  }
}
