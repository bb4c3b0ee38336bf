#include <gtest/gtest.h>
#include <stdlib.h>

#include "engine/engine.hpp"
#include "engine/events.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace hvrun::engine;

namespace {
class EngineRecords : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hvrun-records-XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    root_ = tmpl;
  }
  void TearDown() override { hvrun::remove_all(root_); }
  ContainerConfig cfg(const std::string& name = "") {
    ContainerConfig c;
    c.name = name;
    c.image = "busybox";
    c.image_id = "abc";
    c.spec.args = {"true"};
    return c;
  }
  // Creates the record as its monitor, marks it running (refresh keeps it
  // so while the monitor lives), then "dies": the record's lock goes, and
  // its workload with it (SIGKILL).
  void run_then_lose_the_monitor(Records& rec, ContainerConfig& c) {
    auto l = rec.create(c);
    State st;
    st.status = "running";
    st.pid = 999999;
    rec.save_state(c.id, st);
    EXPECT_EQ(rec.refresh(c.id).status, "running");
  }
  std::string root_;
};
// Records written before mode, net and seccomp were enums read the same, and
// are written back in the same strings.
TEST(EngineRecordJson, ModeNetAndSeccompKeepTheirJsonStrings) {
  for (const char* profile : {"unconfined", "strict", "default", R"({"defaultAction":"SCMP_ACT_ALLOW"})"}) {
    nlohmann::json j = {{"id", "abc"}, {"mode", "vm"}, {"spec", {{"net", "bridge"}, {"seccomp", profile}}}};
    auto c = j.get<ContainerConfig>();
    EXPECT_EQ(c.mode, Mode::Vm);
    EXPECT_EQ(c.spec.net, hvrun::container::NetMode::Bridge);
    EXPECT_EQ(c.spec.seccomp.to_string(), profile);
    nlohmann::json back = c;
    EXPECT_EQ(back["mode"], "vm");
    EXPECT_EQ(back["spec"]["net"], "bridge");
    EXPECT_EQ(back["spec"]["seccomp"], profile);
  }
  auto custom = nlohmann::json(R"({"defaultAction":"SCMP_ACT_ALLOW"})").get<hvrun::container::Seccomp>();
  EXPECT_EQ(custom.mode, hvrun::container::SeccompMode::Custom);
  EXPECT_EQ(nlohmann::json::parse(R"({"spec":{"net":"host"}})").get<ContainerConfig>().spec.net,
            hvrun::container::NetMode::Host);
  EXPECT_EQ(ContainerConfig{}.mode, Mode::Container);
  EXPECT_EQ(nlohmann::json(ContainerConfig{})["mode"], "container");
}

}  // namespace

TEST_F(EngineRecords, CreateWritesConfigWithImageIdAndCreatedState) {
  Records rec(root_);
  auto c = cfg("web");
  auto lock = rec.create(c);
  EXPECT_TRUE(lock.held());
  EXPECT_TRUE(is_container_id(c.id));
  EXPECT_EQ(rec.load_config(c.id).image_id, "abc");
  EXPECT_EQ(rec.load_config(c.id).spec.upperdir, rec.dir(c.id) + "/upper");
  EXPECT_TRUE(hvrun::is_dir(rec.dir(c.id) + "/upper"));
  EXPECT_EQ(rec.load_state(c.id).status, "created");
  EXPECT_EQ(c.spec.hostname, c.id.substr(0, 12));
  EXPECT_TRUE(rec.monitor_alive(c.id));  // we hold its lock
}

TEST_F(EngineRecords, ResolvesByNameFullIdAndUniquePrefix) {
  Records rec(root_);
  auto a = cfg("alpha");
  auto la = rec.create(a);
  EXPECT_EQ(rec.resolve("alpha"), a.id);
  EXPECT_EQ(rec.resolve(a.id), a.id);
  EXPECT_EQ(rec.resolve(a.id.substr(0, 6)), a.id);
  EXPECT_THROW(rec.resolve("nope"), hvrun::Error);
  EXPECT_THROW(rec.resolve(""), hvrun::Error);
}

TEST_F(EngineRecords, NamesAreUniqueAndGeneratedWhenMissing) {
  Records rec(root_);
  auto a = cfg("same");
  auto la = rec.create(a);
  auto b = cfg("same");
  try {
    rec.create(b);
    FAIL() << "duplicate name accepted";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("already in use"), std::string::npos);
  }
  EXPECT_EQ(rec.ids().size(), 1u);  // the refused one left nothing behind
  auto g1 = cfg(), g2 = cfg();
  auto l1 = rec.create(g1);
  auto l2 = rec.create(g2);
  EXPECT_TRUE(valid_name(g1.name));
  EXPECT_NE(g1.name, g2.name);
  auto bad = cfg("bad/name");
  EXPECT_THROW(rec.create(bad), hvrun::Error);
}

TEST_F(EngineRecords, NameIsFreeAgainAfterRemove) {
  Records rec(root_);
  auto a = cfg("reuse");
  {
    auto l = rec.create(a);
    rec.remove(a.id, a.name);
  }
  EXPECT_FALSE(hvrun::path_exists(rec.dir(a.id)));
  auto b = cfg("reuse");
  auto l = rec.create(b);
  EXPECT_EQ(rec.resolve("reuse"), b.id);
}

TEST_F(EngineRecords, RefreshMarksRunningAsKilledBySigkill137WhenMonitorIsGone) {
  Records rec(root_);
  auto a = cfg("ghost");
  run_then_lose_the_monitor(rec, a);
  State st = rec.refresh(a.id);
  EXPECT_EQ(st.status, "exited");
  EXPECT_EQ(st.exit_code, 137);
  EXPECT_EQ(rec.load_state(a.id).status, "exited");
  EXPECT_EQ(rec.load_state(a.id).exit_code, 137);
}

TEST_F(EngineRecords, RefreshGives255WhenTheMonitorDiedBeforeTheContainerStarted) {
  Records rec(root_);
  auto a = cfg("never");
  { auto l = rec.create(a); }  // state "created", monitor gone
  State st = rec.refresh(a.id);
  EXPECT_EQ(st.status, "exited");
  EXPECT_EQ(st.exit_code, 255);
}

TEST_F(EngineRecords, RefreshFinishesTheRemovalOfAnRmRecordWhoseMonitorIsGone) {
  Records rec(root_);
  auto a = cfg("doomed");
  a.auto_remove = true;
  run_then_lose_the_monitor(rec, a);
  try {
    rec.refresh(a.id);
    ADD_FAILURE() << "refresh of a removed --rm record returned";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such container"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(hvrun::path_exists(rec.dir(a.id)));
  EXPECT_TRUE(rec.ids().empty());
  EXPECT_THROW(rec.resolve("doomed"), hvrun::Error);  // its name went with it
}

TEST_F(EngineRecords, ANewContainerTakesTheNameOfADeadRmContainer) {
  Records rec(root_);
  auto a = cfg("again");
  a.auto_remove = true;
  { auto l = rec.create(a); }  // its monitor died without removing it
  auto b = cfg("again");
  auto l = rec.create(b);  // no "already in use"
  EXPECT_EQ(rec.resolve("again"), b.id);
  EXPECT_FALSE(hvrun::path_exists(rec.dir(a.id)));
}

TEST_F(EngineRecords, GarbageFromAKilledCreatorIsCollected) {
  Records rec(root_);
  hvrun::mkdir_p(rec.base() + "/" + std::string(64, 'a') + ".tmp/upper");
  rec.collect_garbage();
  EXPECT_FALSE(hvrun::path_exists(rec.base() + "/" + std::string(64, 'a') + ".tmp"));
}

TEST(EngineProc, StarttimeOfSelfIsStableAndGoneForDeadPid) {
  auto a = proc_starttime(::getpid());
  ASSERT_TRUE(a);
  EXPECT_EQ(a, proc_starttime(::getpid()));
  EXPECT_FALSE(proc_starttime(0));
}

namespace {

TEST_F(EngineRecords, RenameMovesTheNameAndRefusesATakenOrInvalidOne) {
  Records rec(root_);
  ContainerConfig a = cfg("first"), b = cfg("other");
  auto la = rec.create(a);
  auto lb = rec.create(b);
  rec.rename(a.id, "second");
  EXPECT_EQ(rec.resolve("second"), a.id);
  EXPECT_EQ(rec.load_config(a.id).name, "second");
  EXPECT_EQ(rec.load_config(a.id).spec.name, "second");
  EXPECT_THROW(rec.resolve("first"), hvrun::Error);
  try {
    rec.rename(a.id, "other");
    FAIL() << "a taken name was given";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("already in use by container " + b.id.substr(0, 12)), std::string::npos) << e.what();
  }
  EXPECT_THROW(rec.rename(a.id, "bad/name"), hvrun::Error);
  EXPECT_EQ(rec.resolve("second"), a.id);  // nothing changed by the refusals
  EXPECT_EQ(rec.resolve("other"), b.id);
  // The old name is free again.
  ContainerConfig c = cfg("first");
  auto lc = rec.create(c);
  EXPECT_EQ(rec.resolve("first"), c.id);
}

TEST_F(EngineRecords, EventsAreFollowedFromNowOnInOrderAndAcrossTheLogsRotation) {
  Records rec(root_);
  ContainerConfig a = cfg("old");
  {
    auto l = rec.create(a);
  }
  record_event(rec.base(), "start", a.id, "old", "busybox", 0);  // before the follower: not seen
  EventFollower follow(rec.base());
  EXPECT_FALSE(follow.next(0));
  record_event(rec.base(), "start", "id1", "n1", "busybox", 1000);
  record_event(rec.base(), "die", "id1", "n1", "busybox", 1000, 7);
  auto e1 = follow.next(1000), e2 = follow.next(1000);
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ(e1->action, "start");
  EXPECT_EQ(e1->owner_uid, 1000u);
  EXPECT_EQ(e2->action, "die");
  EXPECT_EQ(e2->exit_code, 7);
  EXPECT_GE(e2->time_nano, e1->time_nano);
  // Past 4 MiB the log is renamed and a new one begun: every event still
  // arrives once, in order.
  const std::string pad(2000, 'x');
  int written = 0;
  while (hvrun::path_exists(rec.base() + "/events.log.1") == false) record_event(rec.base(), "create", std::to_string(written++), pad, "i", 0);
  for (int i = 0; i < 3; ++i) record_event(rec.base(), "create", std::to_string(written++), pad, "i", 0);
  for (int i = 0; i < written; ++i) {
    auto e = follow.next(1000);
    ASSERT_TRUE(e) << "event " << i << " of " << written << " missing";
    ASSERT_EQ(e->id, std::to_string(i));
  }
  EXPECT_FALSE(follow.next(50));
  // rm's destroy is recorded too.
  rec.remove(a.id, a.name);
  auto d = follow.next(1000);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->action, "destroy");
  EXPECT_EQ(d->name, "old");
}

}  // namespace
