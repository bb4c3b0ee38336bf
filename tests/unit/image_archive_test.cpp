// Image archives: what an input is (sniffing), save/load round trips and
// the store housekeeping (prune, usage), through the library.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "image/digest.hpp"
#include "image/load.hpp"
#include "image/prune.hpp"
#include "image/save.hpp"
#include "image/store.hpp"
#include "tests/unit/image_test_util.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace hvrun;
using namespace hvrun::image;
using namespace hvrun::image::testing;
using json = nlohmann::json;

namespace {

std::string make_rootfs(const std::string& dir, const std::string& marker) {
  mkdir_p(dir + "/etc");
  write_file_atomic(dir + "/etc/marker", marker);
  return dir;
}

std::string what_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A layer tar and a config naming it, as bytes.
struct Parts {
  std::string layer, config, diff;
};
Parts parts(const std::string& dir) {
  Parts p;
  write_tar(dir + "/layer.tar", {{"etc", AE_IFDIR, 0755}, {"etc/marker", AE_IFREG, 0644, "podman-made"}});
  p.layer = read_file(dir + "/layer.tar");
  p.diff = sha256_hex(p.layer);
  p.config = json{{"architecture", "amd64"},
                  {"os", "linux"},
                  {"config", {{"Cmd", {"/bin/true"}}, {"Env", {"A=b"}}}},
                  {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + p.diff}}}}}
                 .dump();
  return p;
}

}  // namespace

TEST(ImageArchiveFormat, SaveFormatsAndFullNames) {
  EXPECT_EQ(parse_save_format("docker-archive"), SaveFormat::DockerArchive);
  EXPECT_EQ(parse_save_format("oci-archive"), SaveFormat::OciArchive);
  EXPECT_EQ(parse_save_format("oci-dir"), SaveFormat::OciDir);
  EXPECT_EQ(what_of([] { parse_save_format("tar"); }),
            "unknown save format 'tar' (use docker-archive, oci-archive or oci-dir)");
  EXPECT_EQ(full_name("busybox:latest"), "docker.io/library/busybox:latest");
  EXPECT_EQ(full_name("user/app:1"), "docker.io/user/app:1");
  EXPECT_EQ(full_name("localhost:5000/a/b:2"), "localhost:5000/a/b:2");
  EXPECT_EQ(full_name("localhost/bb:1"), "localhost/bb:1");
}

// podman save --format docker-archive: layers as <hex>.tar at the top.
TEST(ImageArchiveSniff, TopLevelManifestMeansADockerArchiveWhateverStandsBesideIt) {
  Tmp t;
  Parts p = parts(t.path);
  std::string cfg_hex = sha256_hex(p.config);
  json manifest = json::array({{{"Config", cfg_hex + ".json"}, {"RepoTags", {"localhost/pm:1"}}, {"Layers", {p.diff + ".tar"}}}});
  write_tar(t.path + "/podman.tar", {{p.diff + ".tar", AE_IFREG, 0444, p.layer},
                                     {cfg_hex + ".json", AE_IFREG, 0444, p.config},
                                     {"manifest.json", AE_IFREG, 0444, manifest.dump()},
                                     {"repositories", AE_IFREG, 0444, "{}"}});
  Store s(t.path + "/root");
  ImageRecord rec = s.import(t.path + "/podman.tar", std::nullopt);
  EXPECT_EQ(rec.id, cfg_hex);
  EXPECT_EQ(rec.tags, std::vector<std::string>{"localhost/pm:1"});
  EXPECT_EQ(rec.config.cmd, std::vector<std::string>{"/bin/true"});
  EXPECT_EQ(read_file(s.layer_dirs(rec)[0] + "/etc/marker"), "podman-made");
}

TEST(ImageArchiveSniff, ImageEntriesWithoutManifestOrLayoutAreRefusedNotImportedAsARootfs) {
  Tmp t;
  Parts p = parts(t.path);
  write_tar(t.path + "/bare.tar", {{p.diff + ".tar", AE_IFREG, 0444, p.layer},
                                   {sha256_hex(p.config) + ".json", AE_IFREG, 0444, p.config}});
  Store s(t.path + "/root");
  std::string err = what_of([&] { s.import(t.path + "/bare.tar", std::string("x:1")); });
  EXPECT_NE(err.find("no manifest.json or oci-layout at its top"), std::string::npos) << err;
  EXPECT_TRUE(s.list().empty());
  // A rootfs that merely has such names among its own is still a rootfs.
  write_tar(t.path + "/rootfs.tar", {{"etc", AE_IFDIR, 0755}, {p.diff + ".tar", AE_IFREG, 0644, "x"}});
  EXPECT_EQ(s.import(t.path + "/rootfs.tar", std::string("r:1")).layers.size(), 1u);
}

TEST(ImageArchiveSniff, ATruncatedArchiveIsRefusedBeforeAnythingIsUnpacked) {
  Tmp t;
  Store s(t.path + "/root");
  write_tar(t.path + "/big.tar", {{"a", AE_IFREG, 0644, std::string(100000, 'a')}, {"b", AE_IFREG, 0644, "b"}});
  std::string data = read_file(t.path + "/big.tar");
  write_file_atomic(t.path + "/short.tar", data.substr(0, 50000));
  std::string err = what_of([&] { s.import(t.path + "/short.tar", std::string("short:1")); });
  EXPECT_NE(err.find("short.tar: corrupt or truncated archive after 1 entries"), std::string::npos) << err;
  EXPECT_TRUE(s.list().empty());
}

TEST(ImageArchiveSave, EveryFormatLoadsBackWithTheSameIdNamesAndBlobs) {
  Tmp t;
  Store a(t.path + "/a");
  ImageRecord one = a.import(make_rootfs(t.path + "/fs1", "one"), std::string("one:1"));
  ImageRecord two = a.import(make_rootfs(t.path + "/fs2", "two"), std::string("two:2"));
  a.tag("one:1", "again:3");
  for (auto f : {SaveFormat::DockerArchive, SaveFormat::OciArchive, SaveFormat::OciDir}) {
    std::string out = t.path + "/out-" + std::to_string(static_cast<int>(f));
    save_images(a, {"one:1", "two:2", "again:3", two.id.substr(0, 10)}, f, out);
    Store b(out + "-store");
    auto loaded = load_images(b, out);
    ASSERT_EQ(loaded.size(), 2u);
    EXPECT_EQ(loaded[0].id, one.id);
    EXPECT_EQ(loaded[0].tags, (std::vector<std::string>{"one:1", "again:3"}));
    EXPECT_EQ(loaded[1].id, two.id);
    EXPECT_EQ(loaded[1].tags, std::vector<std::string>{"two:2"}) << "by id adds no name";
    EXPECT_EQ(b.layer_blob(one.layers[0]).digest, a.layer_blob(one.layers[0]).digest);
    EXPECT_EQ(read_file(b.layer_dirs(b.resolve("again:3"))[0] + "/etc/marker"), "one");
  }
}

TEST(ImageArchiveSave, ALayerBlobThatNoLongerMatchesItsDigestFailsTheSaveAndLeavesNoFile) {
  Tmp t;
  Store a(t.path + "/a");
  ImageRecord one = a.import(make_rootfs(t.path + "/fs1", "one"), std::string("one:1"));
  std::string blob = a.layer_blob(one.layers[0]).path;
  std::string data = read_file(blob);
  data[data.size() / 3] ^= 1;
  write_file_atomic(blob, data);
  std::string err = what_of([&] { save_images(a, {"one:1"}, SaveFormat::DockerArchive, t.path + "/out.tar"); });
  EXPECT_NE(err.find("the store is damaged"), std::string::npos) << err;
  EXPECT_FALSE(exists(t.path + "/out.tar"));
  EXPECT_EQ(list_dir(t.path).size(), 2u) << "only a/ and fs1/: no temporary file left";
}

TEST(ImageArchivePrune, DanglingOnlyThenAllButWhatContainersUse) {
  Tmp t;
  Store s(t.path + "/root");
  ImageRecord tagged = s.import(make_rootfs(t.path + "/fs1", "tagged"), std::string("t:1"));
  ImageRecord dangling = s.import(make_rootfs(t.path + "/fs2", "dangling"), std::nullopt);
  ImageRecord used = s.import(make_rootfs(t.path + "/fs3", "used"), std::nullopt);
  mkdir_p(s.root() + "/containers/c0ffee");
  write_file_atomic(s.root() + "/containers/c0ffee/config.json", R"({"image_id":")" + used.id + R"("})");
  EXPECT_EQ(images_in_use(s), std::set<std::string>{used.id});

  StoreUsage u = store_usage(s);
  EXPECT_EQ(u.images.total, 3u);
  EXPECT_EQ(u.images.active, 1u);
  EXPECT_EQ(u.layers.total, 3u);
  EXPECT_EQ(u.layers.active, 3u);
  EXPECT_EQ(u.layers.reclaimable, 0u);
  EXPECT_GT(u.images.reclaimable, 0u);
  EXPECT_LT(u.images.reclaimable, u.images.size);

  PruneReport r = prune_images(s, false);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"deleted: sha256:" + dangling.id, "deleted: sha256:" + dangling.layers[0]}));
  EXPECT_GT(r.reclaimed, 0u);
  EXPECT_FALSE(exists(s.layer_dir(dangling.layers[0])));
  uint64_t left = store_usage(s).images.reclaimable;
  PruneReport all = prune_images(s, true);
  EXPECT_EQ(all.lines.front(), "untagged: t:1");
  EXPECT_EQ(all.reclaimed, left) << "prune -a frees what usage called reclaimable";
  EXPECT_EQ(s.list().size(), 1u);
  EXPECT_EQ(s.list()[0].id, used.id);
  EXPECT_TRUE(prune_images(s, true).lines.empty());
}
