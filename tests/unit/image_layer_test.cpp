// Safe layer extraction: hostile archives stay inside the layer or fail clearly.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "image/digest.hpp"
#include "image/layer.hpp"
#include "tests/unit/image_test_util.hpp"
#include "util/error.hpp"

using namespace hvrun;
using namespace hvrun::image;
using namespace hvrun::image::testing;

namespace {

struct LayerSandbox {
  Tmp tmp;
  std::string layer = tmp.path + "/layer";
  std::string outside = tmp.path + "/outside";
  std::string tar = tmp.path + "/in.tar";
  LayerSandbox() {
    mkdir_p(layer);
    mkdir_p(outside);
    write_file_atomic(outside + "/secret", "original");
  }
  ExtractResult extract(const std::string& path, ExtractOptions opt = {}) {
    UniqueFd d(::open(layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    UniqueFd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!f) throw_sys("open", path);
    return extract_tar(f.get(), path, d.get(), opt);
  }
  ExtractResult extract_entries(const std::vector<TarEntry>& es, ExtractOptions opt = {}) {
    write_tar(tar, es);
    return extract(tar, opt);
  }
  bool outside_untouched() {
    return read_file(outside + "/secret") == "original" && !exists(outside + "/pwned") &&
           !exists(tmp.path + "/pwned") && !exists(tmp.path + "/escape");
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ImageLayer, DotDotEntryIsRejectedAndNothingEscapes) {
  LayerSandbox s;
  std::string err = error_of([&] { s.extract_entries({{.name = "../escape", .data = "x"}}); });
  EXPECT_NE(err.find("escapes the layer root"), std::string::npos) << err;
  EXPECT_FALSE(exists(s.tmp.path + "/escape"));
  err = error_of([&] { s.extract_entries({{.name = "a/../../escape", .data = "x"}}); });
  EXPECT_NE(err.find("escapes the layer root"), std::string::npos) << err;
  EXPECT_TRUE(s.outside_untouched());
}

TEST(ImageLayer, AbsolutePathLandsInsideTheLayer) {
  LayerSandbox s;
  std::string abs = s.outside + "/pwned";
  s.extract_entries({{.name = abs, .data = "x"}});
  EXPECT_TRUE(exists(s.layer + abs));
  EXPECT_TRUE(s.outside_untouched());
}

TEST(ImageLayer, WriteThroughPlantedAbsoluteSymlinkNeverLeavesTheLayer) {
  LayerSandbox s;
  // "evil" -> the real outside dir; then "evil/pwned": resolved inside the layer
  // (where the target does not exist), so it fails instead of escaping.
  std::string err = error_of([&] {
    s.extract_entries({{.name = "evil", .type = AE_IFLNK, .perm = 0777, .link = s.outside},
                       {.name = "evil/pwned", .data = "x"}});
  });
  EXPECT_FALSE(err.empty());
  EXPECT_TRUE(s.outside_untouched());
}

TEST(ImageLayer, WriteThroughASymlinkLeavingTheLayerIsRefusedNamingTheSymlinkAndWhy) {
  LayerSandbox s;
  std::string err = error_of([&] {
    s.extract_entries({{.name = "etc", .type = AE_IFDIR, .perm = 0755},
                       {.name = "etc/conf", .type = AE_IFLNK, .perm = 0777, .link = s.outside},
                       {.name = "etc/conf/sub/pwned", .data = "x"}});
  });
  EXPECT_NE(err.find("refusing to write 'etc/conf/sub/pwned' through the symbolic link 'etc/conf' -> '" + s.outside + "'"),
            std::string::npos) << err;
  EXPECT_NE(err.find("does not lead to a directory inside the layer"), std::string::npos) << err;
  EXPECT_EQ(err.find("No such file or directory"), std::string::npos) << err;
  EXPECT_TRUE(s.outside_untouched());
  // A symlink to a regular file is named too.
  LayerSandbox f;
  err = error_of([&] {
    f.extract_entries({{.name = "file", .data = "x"},
                       {.name = "lnk", .type = AE_IFLNK, .perm = 0777, .link = "file"},
                       {.name = "lnk/inner", .data = "y"}});
  });
  EXPECT_NE(err.find("through the symbolic link 'lnk' -> 'file'"), std::string::npos) << err;
  // A symlink to a directory inside the layer is followed, inside the layer.
  LayerSandbox d;
  d.extract_entries({{.name = "usr/lib", .type = AE_IFDIR, .perm = 0755},
                     {.name = "lib", .type = AE_IFLNK, .perm = 0777, .link = "usr/lib"},
                     {.name = "lib/libx.so", .data = "elf"}});
  EXPECT_EQ(read_file(d.layer + "/usr/lib/libx.so"), "elf");
}

TEST(ImageLayer, WriteThroughPlantedDotDotSymlinkIsClampedToLayerRoot) {
  LayerSandbox s;
  s.extract_entries({{.name = "up", .type = AE_IFLNK, .perm = 0777, .link = "../../../../.."},
                     {.name = "up/pwned", .data = "x"}});
  EXPECT_TRUE(exists(s.layer + "/pwned"));  // "up" is the layer root when resolved inside it
  EXPECT_TRUE(s.outside_untouched());
}

TEST(ImageLayer, FileOverPlantedSymlinkReplacesTheLinkNotItsTarget) {
  LayerSandbox s;
  s.extract_entries({{.name = "link", .type = AE_IFLNK, .perm = 0777, .link = s.outside + "/secret"},
                     {.name = "link", .data = "overwritten?"}});
  struct stat st;
  ASSERT_EQ(::lstat((s.layer + "/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(read_file(s.layer + "/link"), "overwritten?");
  EXPECT_TRUE(s.outside_untouched());
}

TEST(ImageLayer, SymlinkPointingOutsideIsStoredVerbatim) {
  LayerSandbox s;
  s.extract_entries({{.name = "bin/sh", .type = AE_IFLNK, .perm = 0777, .link = "/bin/busybox"}});
  char buf[64] = {};
  ASSERT_GT(::readlink((s.layer + "/bin/sh").c_str(), buf, sizeof buf - 1), 0);
  EXPECT_STREQ(buf, "/bin/busybox");
}

TEST(ImageLayer, HardlinkToOutsideTargetIsRejected) {
  LayerSandbox s;
  std::string err = error_of([&] { s.extract_entries({{.name = "h", .hardlink = "../outside/secret"}}); });
  EXPECT_NE(err.find("escapes the layer root"), std::string::npos) << err;
  err = error_of([&] { s.extract_entries({{.name = "h2", .hardlink = s.outside + "/secret"}}); });
  EXPECT_NE(err.find("not inside the layer"), std::string::npos) << err;
  err = error_of([&] {
    s.extract_entries({{.name = "sl", .type = AE_IFLNK, .perm = 0777, .link = s.outside},
                       {.name = "h3", .hardlink = "sl/secret"}});
  });
  EXPECT_NE(err.find("not inside the layer"), std::string::npos) << err;
  EXPECT_FALSE(exists(s.layer + "/h"));
  EXPECT_FALSE(exists(s.layer + "/h2"));
  EXPECT_FALSE(exists(s.layer + "/h3"));
  struct stat st;
  ASSERT_EQ(::stat((s.outside + "/secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_TRUE(s.outside_untouched());
}

TEST(ImageLayer, HardlinkInsideTheLayerSharesTheInode) {
  LayerSandbox s;
  s.extract_entries({{.name = "a", .data = "same"}, {.name = "b", .hardlink = "a"}});
  struct stat a, b;
  ASSERT_EQ(::stat((s.layer + "/a").c_str(), &a), 0);
  ASSERT_EQ(::stat((s.layer + "/b").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST(ImageLayer, DeviceNodesAreSkippedAndCountedButZeroZeroWhiteoutIsKept) {
  LayerSandbox s;
  ExtractResult r = s.extract_entries({{.name = "dev/mem", .type = AE_IFCHR, .perm = 0666, .rdev = makedev(1, 1)},
                                       {.name = "dev/sda", .type = AE_IFBLK, .perm = 0666, .rdev = makedev(8, 0)},
                                       {.name = "wh", .type = AE_IFCHR, .perm = 0, .rdev = makedev(0, 0)}});
  EXPECT_EQ(r.dropped_devices, 2u);  // the whiteout is not a dropped device
  EXPECT_FALSE(exists(s.layer + "/dev/mem"));
  EXPECT_FALSE(exists(s.layer + "/dev/sda"));
  struct stat st;
  ASSERT_EQ(::lstat((s.layer + "/wh").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
}

TEST(ImageLayer, AufsWhiteoutsBecomeOverlayWhiteoutsAndOpaqueDirs) {
  LayerSandbox s;
  s.extract_entries({{.name = "etc/.wh.gone"},
                     {.name = "opt", .type = AE_IFDIR, .perm = 0755},
                     {.name = "opt/.wh..wh..opq"},
                     {.name = "opt/kept", .data = "k"}});
  struct stat st;
  ASSERT_EQ(::lstat((s.layer + "/etc/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_FALSE(exists(s.layer + "/etc/.wh.gone"));
  char v[8] = {};
  EXPECT_EQ(::getxattr((s.layer + "/opt").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
  EXPECT_FALSE(exists(s.layer + "/opt/.wh..wh..opq"));
  EXPECT_TRUE(exists(s.layer + "/opt/kept"));
}

TEST(ImageLayer, OverlayXattrsFromTheArchiveAreIgnoredOthersKept) {
  LayerSandbox s;
  s.extract_entries({{.name = "d", .type = AE_IFDIR, .perm = 0755,
                      .xattrs = {{"trusted.overlay.redirect", "/etc"}, {"trusted.overlay.opaque", "y"}}},
                     {.name = "f", .data = "x", .xattrs = {{"user.note", "kept"}}}});
  char v[16] = {};
  EXPECT_LT(::getxattr((s.layer + "/d").c_str(), "trusted.overlay.redirect", v, sizeof v), 0);
  EXPECT_LT(::getxattr((s.layer + "/d").c_str(), "trusted.overlay.opaque", v, sizeof v), 0);
  ASSERT_EQ(::getxattr((s.layer + "/f").c_str(), "user.note", v, sizeof v), 4);
  EXPECT_EQ(std::string(v, 4), "kept");
}

TEST(ImageLayer, SetuidBitsAndOwnersArePreserved) {
  LayerSandbox s;
  TarEntry su{.name = "bin/su", .perm = 04755, .data = "#!"};
  write_tar(s.tar, {su});
  ASSERT_EQ(sh("cd " + s.tmp.path + " && mkdir o && echo x > o/f && chown 1234:5678 o/f && tar -cf own.tar -C o f"), 0);
  s.extract(s.tar);
  s.extract(s.tmp.path + "/own.tar");
  struct stat st;
  ASSERT_EQ(::stat((s.layer + "/bin/su").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  ASSERT_EQ(::stat((s.layer + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
}

TEST(ImageLayer, SparseFileKeepsItsHoles) {
  LayerSandbox s;
  ASSERT_EQ(sh("cd " + s.tmp.path + " && truncate -s 1G big && echo data >> big && tar -S -cf sparse.tar big"), 0);
  s.extract(s.tmp.path + "/sparse.tar");
  struct stat st;
  ASSERT_EQ(::stat((s.layer + "/big").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, (1ll << 30) + 5);
  EXPECT_LT(st.st_blocks * 512, 1ll << 20) << "holes were filled";
}

TEST(ImageLayer, LayerOverTheSizeCapFailsClearly) {
  LayerSandbox s;
  ASSERT_EQ(sh("cd " + s.tmp.path + " && truncate -s 100G huge && tar -S -cf huge.tar huge"), 0);
  std::string err = error_of([&] { s.extract(s.tmp.path + "/huge.tar"); });  // default cap 64 GiB
  EXPECT_NE(err.find("layer too large"), std::string::npos) << err;
  ExtractOptions small;
  small.max_size = 1000;
  err = error_of([&] { s.extract_entries({{.name = "a", .data = std::string(600, 'a')}, {.name = "b", .data = std::string(600, 'b')}}, small); });
  EXPECT_NE(err.find("layer too large"), std::string::npos) << err;
}

TEST(ImageLayer, ImageWideCapCountsTheLayersUnpackedBefore) {
  LayerSandbox s;
  ExtractOptions opt;
  opt.max_image_size = 1000;
  opt.image_size_before = 500;
  std::string err = error_of([&] { s.extract_entries({{.name = "a", .data = std::string(300, 'a')}, {.name = "b", .data = std::string(300, 'b')}}, opt); });
  EXPECT_NE(err.find("image too large"), std::string::npos) << err;
  EXPECT_NE(err.find("limit of 1000 bytes"), std::string::npos) << err;
  EXPECT_NE(err.find("HVRUN_MAX_IMAGE_SIZE"), std::string::npos) << err;
  LayerSandbox t;
  opt.image_size_before = 300;  // 300 + 600 fits
  EXPECT_EQ(t.extract_entries({{.name = "a", .data = std::string(300, 'a')}, {.name = "b", .data = std::string(300, 'b')}}, opt).size, 600u);
}

TEST(ImageLayer, UnpackingStopsBeforeTheFileSystemWouldKeepLessThanTheReserve) {
  LayerSandbox s;
  struct statvfs fs {};
  ASSERT_EQ(::statvfs(s.layer.c_str(), &fs), 0);
  ExtractOptions opt;
  opt.min_free_space = uint64_t(fs.f_blocks) * fs.f_frsize + 1;  // more than the whole file system
  std::string err = error_of([&] { s.extract_entries({{.name = "big", .data = std::string(100000, 'z')}}, opt); });
  EXPECT_NE(err.find("not enough free space to unpack"), std::string::npos) << err;
  EXPECT_NE(err.find("HVRUN_MIN_FREE_SPACE"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  EXPECT_FALSE(exists(s.layer + "/big"));  // refused before anything was written
  opt.min_free_space = 1;
  EXPECT_EQ(s.extract_entries({{.name = "big", .data = std::string(100000, 'z')}}, opt).size, 100000u);
}

TEST(ImageLayer, TruncatedGzipFailsClearly) {
  LayerSandbox s;
  std::vector<TarEntry> es;
  for (int i = 0; i < 50; ++i) es.push_back({.name = "f" + std::to_string(i), .data = random_hex(2000)});
  write_tar(s.tmp.path + "/t.tgz", es, "gzip");
  ASSERT_EQ(sh("cd " + s.tmp.path + " && head -c $(( $(stat -c %s t.tgz) / 2 )) t.tgz > cut.tgz"), 0);
  std::string err = error_of([&] { s.extract(s.tmp.path + "/cut.tgz"); });
  EXPECT_FALSE(err.empty());
  EXPECT_NE(err.find("cut.tgz"), std::string::npos) << err;
}

TEST(ImageLayer, NonArchiveFileFailsClearly) {
  LayerSandbox s;
  write_file_atomic(s.tmp.path + "/notes.txt", "just some text, not a tar archive at all\n");
  std::string err = error_of([&] { s.extract(s.tmp.path + "/notes.txt"); });
  EXPECT_NE(err.find("not a tar archive"), std::string::npos) << err;
}

TEST(ImageLayer, DiffIdIsSha256OfUncompressedTarForEveryCompression) {
  LayerSandbox s;
  std::vector<TarEntry> es{{.name = "etc/hostname", .data = "box\n"}, {.name = "bin", .type = AE_IFDIR, .perm = 0755}};
  write_tar(s.tmp.path + "/plain.tar", es);
  UniqueFd pf(::open((s.tmp.path + "/plain.tar").c_str(), O_RDONLY));
  std::string want = sha256_fd(pf.get(), "plain.tar");
  for (std::string f : {"none", "gzip", "zstd", "xz"}) {
    std::string p = s.tmp.path + "/c." + f;
    write_tar(p, es, f);
    ExtractResult r = s.extract(p);
    EXPECT_EQ(r.diff_id, want) << f;
    UniqueFd cf(::open(p.c_str(), O_RDONLY));
    EXPECT_EQ(r.blob_digest, sha256_fd(cf.get(), p)) << f;
    EXPECT_EQ(read_file(s.layer + "/etc/hostname"), "box\n") << f;
  }
}

TEST(ImageLayer, DirectoryTarIsDeterministic) {
  Tmp t;
  ASSERT_EQ(sh("mkdir -p " + t.path + "/d/sub && echo a > " + t.path + "/d/sub/a && ln -s a " + t.path +
               "/d/sub/l && ln " + t.path + "/d/sub/a " + t.path + "/d/hl"),
            0);
  std::string digests[2];
  for (int i = 0; i < 2; ++i) {
    std::string p = t.path + "/out" + std::to_string(i) + ".tar";
    {
      UniqueFd o(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
      write_dir_tar(t.path + "/d", o.get());
    }
    UniqueFd in(::open(p.c_str(), O_RDONLY));
    digests[i] = sha256_fd(in.get(), p);
    // atime (and with it ctime) changes; mtime stays (nullptr would set it
    // too, and the tars would differ whenever a second boundary passed).
    const timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    ::utimensat(AT_FDCWD, (t.path + "/d/sub/a").c_str(), times, 0);
  }
  EXPECT_EQ(digests[0], digests[1]);
}
