#include "image/save.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include <archive.h>
#include <archive_entry.h>

#include "image/digest.hpp"
#include "image/layer.hpp"
#include "image/oci.hpp"
#include "image/reference.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace hvrun::image {

using json = nlohmann::json;

namespace {

constexpr const char* kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kIndexType = "application/vnd.oci.image.index.v1+json";
constexpr const char* kConfigType = "application/vnd.oci.image.config.v1+json";

// A blob to write: from a kept file (fd) or in memory (data).
struct Blob {
  std::string hex;
  uint64_t size = 0;
  std::string media_type;
  std::shared_ptr<UniqueFd> fd;  // a layer blob, opened under the store lock
  std::string data;              // a config or manifest
  std::string what;              // names it in errors
};

struct SavedImage {
  ImageRecord rec;
  std::vector<std::string> names;  // normalized, in the order given
  Blob config;
  std::vector<Blob> layers;  // bottom first
};

bool hexish(const std::string& ref) {
  std::string h = strip_sha(ref);
  return !h.empty() && h.size() <= 64 &&
         std::all_of(h.begin(), h.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The images, their names and open blob files, taken under the shared store
// lock: the files stay readable even if an rmi removes them meanwhile.
std::vector<SavedImage> gather(const Store& s, const std::vector<std::string>& refs) {
  if (refs.empty()) throw Error("save: no image given");
  std::vector<SavedImage> out;
  if (!is_dir(s.root())) throw Error("no such image: " + refs[0]);
  FileLock lock(s.lock_path(), FileLock::Mode::Shared);
  for (const auto& ref : refs) {
    std::string name;
    try {
      name = normalize_ref(ref);
    } catch (const Error&) {
      if (!hexish(ref)) throw;  // "invalid reference format: ..."
    }
    ImageRecord rec = s.resolve(ref);
    bool by_name = !name.empty() && std::find(rec.tags.begin(), rec.tags.end(), name) != rec.tags.end();
    auto it = std::find_if(out.begin(), out.end(), [&](const SavedImage& i) { return i.rec.id == rec.id; });
    if (it == out.end()) {
      out.push_back(SavedImage{rec, {}, {}, {}});
      it = out.end() - 1;
    }
    if (by_name && std::find(it->names.begin(), it->names.end(), name) == it->names.end()) it->names.push_back(name);
  }
  for (auto& img : out) {
    img.config.data = s.config_blob(img.rec);
    img.config.hex = sha256_hex(img.config.data);
    if (img.config.hex != img.rec.id)
      throw Error("image " + short_id(img.rec.id) + ": stored config does not match its id (content is sha256:" +
                  img.config.hex + "); the store is damaged");
    img.config.size = img.config.data.size();
    img.config.media_type = kConfigType;
    img.config.what = "image " + short_id(img.rec.id) + " config";
    for (const auto& diff : img.rec.layers) {
      LayerBlob lb = s.layer_blob(diff);
      Blob b;
      b.hex = lb.digest;
      b.media_type = lb.media_type;
      b.what = "layer sha256:" + diff + " blob " + lb.path;
      b.fd = std::make_shared<UniqueFd>(::open(lb.path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!*b.fd) throw_sys("open", lb.path);
      struct stat st;
      if (::fstat(b.fd->get(), &st) < 0) throw_sys("stat", lb.path);
      b.size = static_cast<uint64_t>(st.st_size);
      if (lb.size && lb.size != b.size)
        throw Error(b.what + ": is " + std::to_string(b.size) + " bytes, the store recorded " + std::to_string(lb.size) +
                    "; the store is damaged");
      img.layers.push_back(std::move(b));
    }
  }
  return out;
}

// Where the entries go: a tar (libarchive) or a directory.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void dir(const std::string& name) = 0;
  // Writes the blob as `name`, hashing it on the way: throws if it no
  // longer has its digest.
  void blob(const std::string& name, const Blob& b) {
    if (!b.fd) return bytes(name, b.data);
    begin_file(name, b.size);
    if (::lseek(b.fd->get(), 0, SEEK_SET) < 0) throw_sys("seek", b.what);
    Sha256 h;
    std::vector<char> buf(1 << 20);
    uint64_t left = b.size;
    while (left > 0) {
      ssize_t n = ::read(b.fd->get(), buf.data(), std::min<uint64_t>(buf.size(), left));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_sys("read", b.what);
      if (n == 0) throw Error(b.what + ": shrank while being saved");
      h.update(buf.data(), static_cast<size_t>(n));
      write(buf.data(), static_cast<size_t>(n));
      left -= static_cast<uint64_t>(n);
    }
    std::string got = h.hex();
    if (got != b.hex)
      throw Error(b.what + ": content is sha256:" + got + ", not the recorded sha256:" + b.hex + "; the store is damaged");
    end_file();
  }
  void bytes(const std::string& name, const std::string& data) {
    begin_file(name, data.size());
    write(data.data(), data.size());
    end_file();
  }

 protected:
  virtual void begin_file(const std::string& name, uint64_t size) = 0;
  virtual void write(const char* p, size_t n) = 0;
  virtual void end_file() = 0;
};

class TarSink : public Sink {
 public:
  TarSink(int fd, std::string what) : what_(std::move(what)), fd_(fd), a_(archive_write_new()) {
    if (!a_) throw Error("libarchive: out of memory");
    archive_write_set_format_pax_restricted(a_);
    archive_write_set_bytes_in_last_block(a_, 1);
    if (archive_write_open2(a_, this, nullptr, &TarSink::to_fd, nullptr, nullptr) != ARCHIVE_OK) fail("open");
  }
  ~TarSink() override {
    // Not closed: a failure. No end-of-archive marker then, so that what
    // was written reads as the truncated archive it is: from here on the
    // writer drops what libarchive hands it (the marker, the rest of its
    // buffer) and the free closes cleanly. archive_write_fail() would skip
    // the marker too, but then libarchive 3.6 never frees its client
    // buffer (LeakSanitizer in scripts/test.sh --sanitize: 10 KiB a
    // failed save).
    discard_ = !closed_;
    archive_write_free(a_);
  }
  void dir(const std::string& name) override { header(name, AE_IFDIR, 0755, 0); }
  void close() {
    if (archive_write_close(a_) != ARCHIVE_OK) fail("finish");
    closed_ = true;
  }

 protected:
  void begin_file(const std::string& name, uint64_t size) override { header(name, AE_IFREG, 0644, size); }
  void write(const char* p, size_t n) override {
    while (n > 0) {
      la_ssize_t w = archive_write_data(a_, p, n);
      if (w < 0) fail("write");
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
  void end_file() override {}

 private:
  // libarchive's write callback: all of it to fd_ (a short write is
  // libarchive's to retry), or nothing once discarding.
  static la_ssize_t to_fd(archive* a, void* self, const void* buf, size_t n) {
    auto* s = static_cast<TarSink*>(self);
    if (s->discard_) return static_cast<la_ssize_t>(n);
    for (;;) {
      ssize_t w = ::write(s->fd_, buf, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) archive_set_error(a, errno, "write: %s", std::strerror(errno));
      return w;
    }
  }
  [[noreturn]] void fail(const std::string& op) {
    const char* e = archive_error_string(a_);
    throw Error(what_ + ": " + op + ": " + (e ? e : "libarchive error"));
  }
  void header(const std::string& name, mode_t type, mode_t perm, uint64_t size) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_mtime(e.get(), 0, 0);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    if (archive_write_header(a_, e.get()) < ARCHIVE_WARN) fail("write header of " + name);
  }
  std::string what_;
  int fd_;
  archive* a_;
  bool closed_ = false;
  bool discard_ = false;
};

class DirSink : public Sink {
 public:
  explicit DirSink(std::string root) : root_(std::move(root)) {}
  void dir(const std::string& name) override {
    if (::mkdir((root_ + "/" + name).c_str(), 0755) < 0 && errno != EEXIST) throw_sys("mkdir", root_ + "/" + name);
  }

 protected:
  void begin_file(const std::string& name, uint64_t) override {
    cur_ = root_ + "/" + name;
    fd_.reset(::open(cur_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd_) throw_sys("create", cur_);
  }
  void write(const char* p, size_t n) override {
    if (!write_all(fd_.get(), p, n)) throw_sys("write", cur_);
  }
  void end_file() override {
    if (::fsync(fd_.get()) < 0) throw_sys("fsync", cur_);
    fd_.reset();
  }

 private:
  std::string root_, cur_;
  UniqueFd fd_;
};

std::string blob_path(const std::string& hex) { return "blobs/sha256/" + hex; }

void write_docker(Sink& out, const std::vector<SavedImage>& imgs) {
  out.dir("blobs");
  out.dir("blobs/sha256");
  std::set<std::string> written;
  json manifest = json::array();
  for (const auto& img : imgs) {
    json entry;
    entry["Config"] = blob_path(img.config.hex);
    // Fully qualified, as podman reads them (it would take a bare "busybox:latest"
    // for localhost/busybox); docker and hvrun read both spellings alike.
    json tags = json::array();
    for (const auto& n : img.names) tags.push_back(full_name(n));
    entry["RepoTags"] = tags;
    json layers = json::array();
    for (const Blob* b : [&] {
           std::vector<const Blob*> v{&img.config};
           for (auto& l : img.layers) v.push_back(&l);
           return v;
         }()) {
      if (written.insert(b->hex).second) out.blob(blob_path(b->hex), *b);
      if (b != &img.config) layers.push_back(blob_path(b->hex));
    }
    entry["Layers"] = layers;
    manifest.push_back(entry);
  }
  out.bytes("manifest.json", manifest.dump() + "\n");
}

void write_oci(Sink& out, const std::vector<SavedImage>& imgs) {
  out.bytes("oci-layout", json{{"imageLayoutVersion", "1.0.0"}}.dump() + "\n");
  out.dir("blobs");
  out.dir("blobs/sha256");
  std::set<std::string> written;
  json index = {{"schemaVersion", 2}, {"mediaType", kIndexType}, {"manifests", json::array()}};
  for (const auto& img : imgs) {
    json m = {{"schemaVersion", 2}, {"mediaType", kManifestType}};
    m["config"] = {{"mediaType", kConfigType}, {"digest", "sha256:" + img.config.hex}, {"size", img.config.size}};
    m["layers"] = json::array();
    if (written.insert(img.config.hex).second) out.blob(blob_path(img.config.hex), img.config);
    for (const auto& l : img.layers) {
      m["layers"].push_back({{"mediaType", l.media_type}, {"digest", "sha256:" + l.hex}, {"size", l.size}});
      if (written.insert(l.hex).second) out.blob(blob_path(l.hex), l);
    }
    std::string mtext = m.dump();
    std::string mhex = sha256_hex(mtext);
    if (written.insert(mhex).second) out.bytes(blob_path(mhex), mtext);
    json desc = {{"mediaType", kManifestType}, {"digest", "sha256:" + mhex}, {"size", mtext.size()}};
    if (img.names.empty()) index["manifests"].push_back(desc);
    for (const auto& n : img.names) {
      desc["annotations"] = {{"io.containerd.image.name", full_name(n)},
                             {"org.opencontainers.image.ref.name", full_name(n)}};
      index["manifests"].push_back(desc);
    }
  }
  out.bytes("index.json", index.dump() + "\n");
}

void write_all_to(Sink& out, SaveFormat f, const std::vector<SavedImage>& imgs) {
  if (f == SaveFormat::DockerArchive) write_docker(out, imgs);
  else write_oci(out, imgs);
}

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A temporary path beside `out` that is removed unless kept.
struct Beside {
  std::string path;
  bool keep = false;
  explicit Beside(const std::string& out)
      : path(dir_of(out) + "/." + base_of(out) + ".hvrun-save-" + random_hex(6)) {}
  ~Beside() {
    if (keep) return;
    try {
      remove_all(path);
    } catch (...) {
    }
    ::unlink(path.c_str());
  }
};

}  // namespace

SaveFormat parse_save_format(const std::string& name) {
  if (name == "docker-archive") return SaveFormat::DockerArchive;
  if (name == "oci-archive") return SaveFormat::OciArchive;
  if (name == "oci-dir") return SaveFormat::OciDir;
  throw Error("unknown save format '" + name + "' (use docker-archive, oci-archive or oci-dir)");
}

std::string full_name(const std::string& normalized_ref) {
  Reference r = parse_reference(normalized_ref);
  if (!r.domain.empty()) return r.str();
  return "docker.io/" + (r.path.find('/') == std::string::npos ? "library/" + r.path : r.path) + ":" + r.tag;
}

void save_images(const Store& s, const std::vector<std::string>& refs, SaveFormat format, const std::string& out) {
  if (out.empty()) throw Error("save: no output given (-o FILE)");
  if (out == "-" && format == SaveFormat::OciDir) throw Error("save: oci-dir writes a directory: give it with -o DIR");
  if (out == "-" && ::isatty(STDOUT_FILENO))
    throw Error("refusing to write an image archive to a terminal: use -o FILE or redirect stdout");
  if (format == SaveFormat::OciDir) {
    struct stat st;
    if (::stat(out.c_str(), &st) == 0 && (!S_ISDIR(st.st_mode) || !list_dir(out).empty()))
      throw Error("save: " + out + " already exists" + (S_ISDIR(st.st_mode) ? " and is not empty" : ""));
  } else if (out != "-" && is_dir(out)) {
    throw Error("save: " + out + " is a directory (give a file name, or --format oci-dir)");
  }
  std::vector<SavedImage> imgs = gather(s, refs);

  if (out == "-") {
    TarSink tar(STDOUT_FILENO, "save to stdout");
    write_all_to(tar, format, imgs);
    tar.close();
    return;
  }
  Beside tmp(out);
  if (format == SaveFormat::OciDir) {
    if (::mkdir(tmp.path.c_str(), 0755) < 0) throw_sys("mkdir", tmp.path);
    DirSink dir(tmp.path);
    write_all_to(dir, format, imgs);
    ::rmdir(out.c_str());  // an empty directory given as the target
    if (::rename(tmp.path.c_str(), out.c_str()) < 0) throw_sys("rename", tmp.path + " to " + out);
    tmp.keep = true;
    return;
  }
  UniqueFd fd(::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) throw_sys("create", tmp.path);
  {
    TarSink tar(fd.get(), "save to " + out);
    write_all_to(tar, format, imgs);
    tar.close();
  }
  if (::fsync(fd.get()) < 0) throw_sys("fsync", tmp.path);
  fd.reset();
  if (::rename(tmp.path.c_str(), out.c_str()) < 0) throw_sys("rename", tmp.path + " to " + out);
  tmp.keep = true;
}

}  // namespace hvrun::image
