// engine/snapshots: the store of microVM snapshots (ROOT/snapshots/<name>)
// and what create and restore refuse before any VM is touched. Taking and
// restoring real snapshots is proven in the nested test host
// (tests/integration/vm_snapshots.sh).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/records.hpp"
#include "engine/snapshots.hpp"
#include "engine/vm_backend.hpp"
#include "tests/unit/image_test_util.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace hvrun::engine;

namespace {

class EngineSnapshots : public ::testing::Test {
 protected:
  // A snapshot directory as create leaves it (the VMM's files are stand-ins).
  void make_snapshot(const std::string& name, const std::string& created) {
    const std::string dir = snapshots_dir(root_) + "/" + name;
    hvrun::mkdir_p(dir);
    SnapshotInfo s;
    s.name = name;
    s.created = created;
    s.container_name = "c";
    s.config.mode = Mode::Vm;
    hvrun::write_file_atomic(dir + "/snapshot.json", nlohmann::json(s).dump());
    hvrun::write_file_atomic(dir + "/" + kSnapshotMemoryFile, "m");
    hvrun::write_file_atomic(dir + "/" + kSnapshotDiskFile, "d");
  }
  std::string error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const hvrun::Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  hvrun::image::testing::Tmp tmp_;
  const std::string root_ = tmp_.path;
};

TEST_F(EngineSnapshots, ListIsOldestFirstAndSkipsSnapshotsBeingMadeOrUnreadable) {
  make_snapshot("new", "2026-12-05T10:00:00Z");
  make_snapshot("old", "2026-12-04T10:00:00Z");
  hvrun::mkdir_p(snapshots_dir(root_) + "/.tmp-half-1234");
  hvrun::mkdir_p(snapshots_dir(root_) + "/broken");
  hvrun::write_file_atomic(snapshots_dir(root_) + "/broken/snapshot.json", "{\"name\":");
  std::vector<std::string> names;
  for (const auto& s : list_snapshots(root_)) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"old", "new"}));
  EXPECT_EQ(load_snapshot(root_, "old").config.mode, Mode::Vm);
  EXPECT_NE(error_of([&] { load_snapshot(root_, "broken"); }).find("snapshot broken: "), std::string::npos);
}

TEST_F(EngineSnapshots, AMissingOrOddlyNamedSnapshotIsNoSuchSnapshot) {
  EXPECT_TRUE(list_snapshots(root_).empty());  // no snapshots directory yet
  make_snapshot("s1", "2026-12-05T10:00:00Z");
  for (const char* n : {"nope", "../s1", ".tmp-x", "", "s1/"})
    EXPECT_EQ(error_of([&] { load_snapshot(root_, n); }), std::string("no such snapshot: ") + n) << n;
  EXPECT_EQ(error_of([&] { remove_snapshot(root_, "nope"); }), "no such snapshot: nope");
  EXPECT_EQ(error_of([&] { restore_snapshot(root_, RestoreOptions{"nope", "", false, false}); }), "no such snapshot: nope");
}

TEST_F(EngineSnapshots, RemoveTakesTheWholeDirectoryAndASecondRemoveIsRefused) {
  make_snapshot("s1", "2026-12-05T10:00:00Z");
  remove_snapshot(root_, "s1");
  EXPECT_FALSE(hvrun::path_exists(snapshots_dir(root_) + "/s1"));
  EXPECT_TRUE(hvrun::list_dir(snapshots_dir(root_)).empty());  // nothing left aside either
  EXPECT_EQ(error_of([&] { remove_snapshot(root_, "s1"); }), "no such snapshot: s1");
}

TEST_F(EngineSnapshots, RestoringASnapshotWithoutItsMemoryOrDiskIsRefusedSayingWhich) {
  make_snapshot("s1", "2026-12-05T10:00:00Z");
  ::unlink((snapshots_dir(root_) + "/s1/" + kSnapshotMemoryFile).c_str());
  EXPECT_EQ(error_of([&] { restore_snapshot(root_, RestoreOptions{"s1", "", false, false}); }),
            "snapshot s1 is incomplete: it has no vm.snap");
  EXPECT_TRUE(Records(root_).ids().empty());  // no container record was made
}

TEST_F(EngineSnapshots, CreateRefusesAContainerAStoppedVmAndABadNameBeforeTouchingIt) {
  Records rec(root_);
  ContainerConfig ctr;
  ctr.name = "ctr";
  ctr.spec.args = {"true"};
  auto l1 = rec.create(ctr);
  EXPECT_NE(error_of([&] { create_snapshot(root_, "ctr", "s"); }).find("container ctr is not a microVM"), std::string::npos);

  ContainerConfig vm = ctr;
  vm.name = "vm";
  vm.mode = Mode::Vm;
  vm.spec.net = hvrun::container::NetMode::Bridge;
  auto l2 = rec.create(vm);
  EXPECT_EQ(error_of([&] { create_snapshot(root_, "vm", "s"); }), "container vm is not running");
  // Running (its monitor holds the lock; the pid is this process).
  State st;
  st.status = "running";
  st.pid = ::getpid();
  st.pid_starttime = proc_starttime(::getpid()).value_or(0);
  rec.save_state(vm.id, st);
  // Suitable (a network card and volumes are carried), but nothing listens
  // on its control socket: refused, nothing left.
  vm.spec.mounts.push_back({"/src", "/dst", false});
  rec.save_config(vm);
  EXPECT_EQ(error_of([&] { create_snapshot(root_, "vm", "bad/name"); }),
            "invalid snapshot name \"bad/name\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most 100");
  EXPECT_EQ(error_of([&] { create_snapshot(root_, "vm", "s"); }),
            "container vm has no control socket (it stopped, or an older hvrun started it)");
  EXPECT_TRUE(hvrun::list_dir(snapshots_dir(root_)).empty());
}

}  // namespace
