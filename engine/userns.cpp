#include "engine/userns.hpp"

#include <sys/acl.h>
#include <sys/stat.h>

#include <cerrno>
#include <memory>

#include "container/namespaces.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace hvrun::engine {

namespace {

struct AclFree {
  void operator()(void* p) const { ::acl_free(p); }
};

void grant_search(const std::string& dir, uid_t uid) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) < 0) throw_sys("stat", dir);
  if (!S_ISDIR(st.st_mode) || (st.st_mode & S_IXOTH) || st.st_uid == uid) return;
  const std::string what = "granting uid " + std::to_string(uid) + " search on";
  acl_t a = ::acl_get_file(dir.c_str(), ACL_TYPE_ACCESS);
  if (!a) throw_sys(what, dir);
  // Freed at the end whatever `a` is by then (acl_create_entry and
  // acl_calc_mask may replace it).
  struct Owned {
    acl_t& a;
    ~Owned() { ::acl_free(a); }
  } owned{a};
  acl_entry_t e = nullptr;
  bool found = false;
  for (int r = ::acl_get_entry(a, ACL_FIRST_ENTRY, &e); r == 1; r = ::acl_get_entry(a, ACL_NEXT_ENTRY, &e)) {
    acl_tag_t tag;
    if (::acl_get_tag_type(e, &tag) < 0 || tag != ACL_USER) continue;
    std::unique_ptr<void, AclFree> q(::acl_get_qualifier(e));
    if (q && *static_cast<uid_t*>(q.get()) == uid) {
      found = true;
      break;
    }
  }
  if (!found && (::acl_create_entry(&a, &e) < 0 || ::acl_set_tag_type(e, ACL_USER) < 0 ||
                 ::acl_set_qualifier(e, &uid) < 0))
    throw_sys(what, dir);
  acl_permset_t ps;
  if (::acl_get_permset(e, &ps) < 0 || ::acl_add_perm(ps, ACL_EXECUTE) < 0 || ::acl_set_permset(e, ps) < 0 ||
      ::acl_calc_mask(&a) < 0)
    throw_sys(what, dir);
  if (::acl_set_file(dir.c_str(), ACL_TYPE_ACCESS, a) < 0) {
    const int err = errno;
    if (err == EOPNOTSUPP)
      throw Error(what + " " + dir + ": its file system has no POSIX ACLs (--userns private needs them on the store's)");
    throw_sys(what, dir, err);
  }
}

}  // namespace

void grant_search_path(const std::string& path, uid_t uid) {
  grant_search("/", uid);
  std::string dir;
  for (const auto& c : path_components(path)) grant_search(dir += "/" + c, uid);
}

void grant_userns_access(const Records& rec, const ContainerConfig& cfg) {
  // A microVM's uid 100000 is the guest's: its VMM reads the disks and shares.
  if (!cfg.spec.userns || cfg.mode == Mode::Vm) return;
  const uid_t uid = container::kUsernsHostBase;
  grant_search_path(rec.dir(cfg.id), uid);
  const std::string store = rec.store_root() + "/";
  for (const auto& l : cfg.spec.lowerdirs) grant_search_path(l, uid);
  for (const auto& m : cfg.spec.mounts)
    if (m.source.rfind(store, 0) == 0) grant_search_path(m.source, uid);
}

}  // namespace hvrun::engine
