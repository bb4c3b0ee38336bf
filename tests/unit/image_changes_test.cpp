// A container's changes: the A/C/D list (image/changes), the OCI layer tar
// of an overlay upper dir (write_layer_tar), -c instructions
// (image/config_change) and history alignment (image/history).
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/changes.hpp"
#include "image/config_change.hpp"
#include "image/history.hpp"
#include "image/layer.hpp"
#include "tests/unit/image_test_util.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

using namespace hvrun;
using namespace hvrun::image;
using namespace hvrun::image::testing;
using nlohmann::json;

namespace {

void put(const std::string& p, const std::string& data) {
  mkdir_p(p.substr(0, p.rfind('/')));
  write_file_atomic(p, data);
}
void whiteout(const std::string& p) {
  mkdir_p(p.substr(0, p.rfind('/')));
  ASSERT_EQ(::mknod(p.c_str(), S_IFCHR | 0, ::makedev(0, 0)), 0) << p << ": " << std::strerror(errno);
}
void opaque(const std::string& p) {
  mkdir_p(p);
  ASSERT_EQ(::setxattr(p.c_str(), "trusted.overlay.opaque", "y", 1, 0), 0) << p << ": " << std::strerror(errno);
}
// Gives dir the same mode and times as `like` (what overlay copy-up does).
void same_stat(const std::string& dir, const std::string& like) {
  struct stat st;
  ASSERT_EQ(::stat(like.c_str(), &st), 0);
  ::chmod(dir.c_str(), st.st_mode & 07777);
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, dir.c_str(), ts, 0), 0);
}

#define REQUIRE_ROOT()                                                       \
  do {                                                                       \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (whiteouts, trusted.* xattrs)"; \
  } while (0)

// A lower layer and an upper dir as a container would leave them.
struct Layers {
  Tmp tmp;
  std::string lower = tmp.path + "/lower", upper = tmp.path + "/upper";
  Layers() {
    put(lower + "/etc/keep", "keep\n");
    put(lower + "/etc/gone", "gone\n");
    put(lower + "/etc/deep/x/y", "y\n");
    put(lower + "/data/a", "a\n");
    put(lower + "/data/b", "b\n");
    put(lower + "/bin/sh", "#!\n");
    mkdir_p(upper);
  }
};

TEST(UpperChanges, ListsAddedChangedAndDeletedInDockerOrderWithParentsFirst) {
  REQUIRE_ROOT();
  Layers l;
  put(l.upper + "/added.txt", "new\n");
  put(l.upper + "/etc/keep", "changed\n");
  whiteout(l.upper + "/etc/gone");
  same_stat(l.upper + "/etc", l.lower + "/etc");  // copied up, then only children changed
  put(l.upper + "/etc/deep/x/y", "y2\n");
  same_stat(l.upper + "/etc/deep/x", l.lower + "/etc/deep/x");
  same_stat(l.upper + "/etc/deep", l.lower + "/etc/deep");
  same_stat(l.upper + "/etc", l.lower + "/etc");
  opaque(l.upper + "/data");
  put(l.upper + "/data/fresh", "f\n");
  put(l.upper + "/newdir/f", "n\n");
  auto out = format_changes(upper_changes(l.upper, {l.lower}));
  EXPECT_EQ(out,
            "A /added.txt\n"
            "D /data\n"
            "A /data/fresh\n"
            "C /etc\n"
            "C /etc/deep\n"
            "C /etc/deep/x\n"
            "C /etc/deep/x/y\n"
            "D /etc/gone\n"
            "C /etc/keep\n"
            "A /newdir\n"
            "A /newdir/f\n");
}

TEST(UpperChanges, HonoursWhiteoutsAndOpaqueDirsOfTheLowerLayers) {
  REQUIRE_ROOT();
  Tmp tmp;
  std::string bottom = tmp.path + "/bottom", top = tmp.path + "/top", upper = tmp.path + "/upper";
  put(bottom + "/etc/old", "o\n");
  put(bottom + "/opt/hidden", "h\n");
  whiteout(top + "/etc/old");  // deleted by the image's second layer
  opaque(top + "/opt");
  put(top + "/opt/new", "n\n");
  put(upper + "/etc/old", "back\n");     // re-created: it was not in the image
  put(upper + "/opt/hidden", "again\n");  // hidden by the opaque dir: new too
  put(upper + "/opt/new", "changed\n");
  same_stat(upper + "/etc", bottom + "/etc");
  same_stat(upper + "/opt", top + "/opt");
  EXPECT_EQ(format_changes(upper_changes(upper, {top, bottom})),
            "C /etc\n"
            "A /etc/old\n"
            "C /opt\n"
            "A /opt/hidden\n"
            "C /opt/new\n");
}

TEST(UpperChanges, LeavesOutTheSkippedFilesAndTheDirectoryTheyAloneChanged) {
  REQUIRE_ROOT();
  Layers l;
  put(l.upper + "/etc/hosts", "10.0.0.2 me\n");
  put(l.upper + "/etc/hostname", "me\n");
  put(l.upper + "/etc/resolv.conf", "nameserver 1.1.1.1\n");
  std::set<std::string> skip = {"etc/hosts", "etc/hostname", "etc/resolv.conf"};
  EXPECT_EQ(format_changes(upper_changes(l.upper, {l.lower}, skip)), "");
  put(l.upper + "/etc/mine", "m\n");
  EXPECT_EQ(format_changes(upper_changes(l.upper, {l.lower}, skip)), "C /etc\nA /etc/mine\n");
}

// Entries of a tar: name -> (type, size).
std::map<std::string, std::pair<mode_t, int64_t>> tar_entries(const std::string& path) {
  std::map<std::string, std::pair<mode_t, int64_t>> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 1 << 16), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK)
    out[archive_entry_pathname(e)] = {archive_entry_filetype(e), archive_entry_size(e)};
  archive_read_free(a);
  return out;
}

TEST(WriteLayerTar, OverlayWhiteoutsAndOpaqueDirsBecomeOciEntriesAndExcludedPathsAreLeftOut) {
  REQUIRE_ROOT();
  Layers l;
  put(l.upper + "/added.txt", "new\n");
  whiteout(l.upper + "/etc/gone");
  put(l.upper + "/etc/hosts", "x\n");
  opaque(l.upper + "/data");
  put(l.upper + "/data/fresh", "f\n");
  std::string tar = l.tmp.path + "/layer.tar";
  LayerTarOptions opt;
  opt.exclude = {"etc/hosts"};
  {
    UniqueFd fd(::open(tar.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    write_layer_tar(l.upper, fd.get(), opt);
  }
  auto es = tar_entries(tar);
  ASSERT_TRUE(es.count("etc/.wh.gone")) << "no whiteout entry";
  EXPECT_EQ(es["etc/.wh.gone"].first, mode_t(AE_IFREG));
  EXPECT_EQ(es["etc/.wh.gone"].second, 0);
  EXPECT_FALSE(es.count("etc/gone"));
  EXPECT_TRUE(es.count("data/.wh..wh..opq"));
  EXPECT_TRUE(es.count("data/fresh"));
  EXPECT_TRUE(es.count("added.txt"));
  EXPECT_FALSE(es.count("etc/hosts"));
  // Unpacked again it is the same overlay layer.
  std::string back = l.tmp.path + "/back";
  mkdir_p(back);
  UniqueFd d(::open(back.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd in(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  extract_tar(in.get(), tar, d.get());
  EXPECT_EQ(format_changes(upper_changes(back, {l.lower})), format_changes(upper_changes(l.upper, {l.lower}, {"etc/hosts"})));
}

TEST(WriteLayerTar, IsDeterministic) {
  REQUIRE_ROOT();
  Layers l;
  put(l.upper + "/b", "b\n");
  put(l.upper + "/a/x", "x\n");
  whiteout(l.upper + "/etc/gone");
  std::string t1 = l.tmp.path + "/1.tar", t2 = l.tmp.path + "/2.tar";
  for (auto* t : {&t1, &t2}) {
    UniqueFd fd(::open(t->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    write_layer_tar(l.upper, fd.get(), {});
  }
  EXPECT_EQ(read_file(t1), read_file(t2));
}

TEST(ConfigChange, CmdAndEntrypointTakeJsonOrShellForm) {
  json c = json::object();
  apply_config_change(c, "CMD [\"cat\", \"/x\"]");
  EXPECT_EQ(c["Cmd"], json::array({"cat", "/x"}));
  apply_config_change(c, "cmd echo hi there");
  EXPECT_EQ(c["Cmd"], json::array({"/bin/sh", "-c", "echo hi there"}));
  apply_config_change(c, "ENTRYPOINT [\"/bin/tini\",\"--\"]");
  EXPECT_EQ(c["Entrypoint"], json::array({"/bin/tini", "--"}));
}

TEST(ConfigChange, EnvReplacesOrAddsAndKeepsQuotedSpaces) {
  json c = {{"Env", {"PATH=/bin", "A=1"}}};
  apply_config_change(c, "ENV A=2 B=\"two words\"");
  EXPECT_EQ(c["Env"], json::array({"PATH=/bin", "A=2", "B=two words"}));
  apply_config_change(c, "ENV C some value");
  EXPECT_EQ(c["Env"].back(), "C=some value");
}

TEST(ConfigChange, WorkdirUserLabelExposeVolume) {
  json c = {{"WorkingDir", "/app"}};
  apply_config_change(c, "WORKDIR sub");
  EXPECT_EQ(c["WorkingDir"], "/app/sub");
  apply_config_change(c, "WORKDIR /srv");
  EXPECT_EQ(c["WorkingDir"], "/srv");
  apply_config_change(c, "USER 1000:1000");
  EXPECT_EQ(c["User"], "1000:1000");
  apply_config_change(c, "LABEL a=b \"c d\"=e");
  EXPECT_EQ(c["Labels"], json({{"a", "b"}, {"c d", "e"}}));
  apply_config_change(c, "EXPOSE 80 53/UDP");
  EXPECT_EQ(c["ExposedPorts"], json({{"80/tcp", json::object()}, {"53/udp", json::object()}}));
  apply_config_change(c, "VOLUME /data /logs");
  EXPECT_EQ(c["Volumes"], json({{"/data", json::object()}, {"/logs", json::object()}}));
}

TEST(ConfigChange, BadInstructionsAreRefusedAndLeaveTheConfigAlone) {
  json c = {{"Cmd", {"sh"}}};
  const json before = c;
  for (const char* bad : {"FROB x", "CMD", "", "EXPOSE 99999", "EXPOSE http", "USER a b", "ENV =x", "LABEL \"open",
                          "VOLUME relative"}) {
    try {
      apply_config_change(c, bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("invalid -c"), std::string::npos) << e.what();
    }
    EXPECT_EQ(c, before) << bad;
  }
}

TEST(AlignedHistory, AddsEntriesForLayersTheHistoryDoesNotCover) {
  json cfg = {{"created", "2024-01-01T00:00:00Z"},
              {"history", {{{"created_by", "CMD x"}, {"empty_layer", true}}, {{"created_by", "RUN y"}}}}};
  json h = aligned_history(cfg, 3);
  ASSERT_EQ(h.size(), 4u);  // two added for the two bottom layers, then the two given
  EXPECT_EQ(h[0]["created"], "2024-01-01T00:00:00Z");
  EXPECT_EQ(h[2]["created_by"], "CMD x");
  EXPECT_EQ(h[3]["created_by"], "RUN y");
  EXPECT_EQ(aligned_history(cfg, 1).size(), 2u);  // already covered: unchanged
}

}  // namespace
