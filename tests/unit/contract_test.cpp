// The host-guest contract of a microVM (contract/): the control channel's
// messages both ways, the line splitter, the GuestSpec the host builds and
// its JSON, and the device plan's names and limits.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <csignal>
#include <nlohmann/json.hpp>

#include "contract/control.hpp"
#include "contract/guest_spec.hpp"
#include "contract/plan.hpp"
#include "util/error.hpp"

namespace hvrun::contract {
namespace {

TEST(ContractControl, HostMessagesRoundTripAsTheDocumentedJsonLines) {
  EXPECT_EQ(encode(HostMessage{SignalMsg{15}}), "{\"signal\":15}\n");
  EXPECT_EQ(encode(HostMessage{WinsizeMsg{40, 120}}), "{\"winsize\":[40,120]}\n");
  EXPECT_EQ(encode(HostMessage{StdinEofMsg{}}), "{\"stdin_eof\":true}\n");
  auto sig = decode_host_message("{\"signal\":15}");
  ASSERT_TRUE(sig);
  ASSERT_TRUE(std::holds_alternative<SignalMsg>(*sig));
  EXPECT_EQ(std::get<SignalMsg>(*sig).signal, SIGTERM);
  auto ws = decode_host_message(R"({"winsize":[40,120]})");
  ASSERT_TRUE(ws && std::holds_alternative<WinsizeMsg>(*ws));
  EXPECT_EQ(std::get<WinsizeMsg>(*ws).rows, 40);
  EXPECT_EQ(std::get<WinsizeMsg>(*ws).cols, 120);
  auto eof = decode_host_message(R"({"stdin_eof":true})");
  ASSERT_TRUE(eof && std::holds_alternative<StdinEofMsg>(*eof));
}

TEST(ContractControl, RejectsMalformedOrHostileHostMessagesWithAReason) {
  for (std::string bad : {"", "garbage", "[]", R"({"signal":0})", R"({"signal":99999})", R"({"signal":"9"})",
                          R"({"signal":4294967311})", R"({"winsize":[1]})", R"({"winsize":[-1,5]})",
                          R"({"winsize":[70000,5]})", R"({"stdin_eof":false})", R"({"other":1})",
                          R"({"event":"ready"})"}) {
    std::string why;
    EXPECT_FALSE(decode_host_message(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(ContractControl, GuestEventsAreOneJsonLineEachAndDecodeBack) {
  EXPECT_EQ(encode(GuestEvent{ReadyEvent{}}), "{\"event\":\"ready\"}\n");
  auto e = encode(GuestEvent{ExitEvent{0, 9, true, ""}});
  ASSERT_EQ(e.back(), '\n');
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1);
  auto j = nlohmann::json::parse(e);
  EXPECT_EQ(j["event"], "exit");
  EXPECT_EQ(j["signal"], 9);
  EXPECT_EQ(j["oom"], true);
  EXPECT_FALSE(j.contains("error"));
  auto back = decode_guest_event(e.substr(0, e.size() - 1));
  ASSERT_TRUE(back && std::holds_alternative<ExitEvent>(*back));
  EXPECT_EQ(std::get<ExitEvent>(*back).signal, 9);
  EXPECT_TRUE(std::get<ExitEvent>(*back).oom);

  auto f = encode(GuestEvent{guest_error("mount /dev/vda failed:\nline two")});
  EXPECT_EQ(std::count(f.begin(), f.end(), '\n'), 1) << "a newline in the reason stays escaped";
  auto fj = nlohmann::json::parse(f);
  EXPECT_EQ(fj["code"], kHvrunErrorStatus);
  EXPECT_EQ(fj["error"], "mount /dev/vda failed:\nline two");
  auto fb = decode_guest_event(f.substr(0, f.size() - 1));
  ASSERT_TRUE(fb && std::holds_alternative<ExitEvent>(*fb));
  EXPECT_EQ(std::get<ExitEvent>(*fb).code, 125);
  EXPECT_EQ(std::get<ExitEvent>(*fb).error, "mount /dev/vda failed:\nline two");

  auto ready = decode_guest_event("{\"event\":\"ready\"}");
  ASSERT_TRUE(ready && std::holds_alternative<ReadyEvent>(*ready));
}

TEST(ContractControl, AnExitEventWithoutACodeIsAnErrorAndOtherLinesAreNotEvents) {
  auto x = decode_guest_event(R"({"event":"exit"})");
  ASSERT_TRUE(x && std::holds_alternative<ExitEvent>(*x));
  EXPECT_EQ(std::get<ExitEvent>(*x).code, kHvrunErrorStatus);
  for (std::string bad : {"", "ready", "\"ready\"", R"({"event":"later"})", R"({"signal":15})",
                          R"({"event":"exit","code":"zero"})", R"({"text":"{\"event\":\"ready\"}"})"}) {
    std::string why;
    EXPECT_FALSE(decode_guest_event(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

// Found writing tests/fuzz/guest_spec (its UBSan build reports it): an
// exit event's code 1e30 went through nlohmann's get<int>() of a float out
// of range, undefined behaviour in the host on a hostile guest's line. A code or signal that is not an
// integer that fits an int is refused.
TEST(ContractControl, AnExitEventWhoseCodeOrSignalIsNotAnIntIsRefused) {
  for (std::string bad : {R"({"event":"exit","code":1e30})", R"({"event":"exit","code":1.5})",
                          R"({"event":"exit","code":4294967296})", R"({"event":"exit","signal":-1e300})",
                          R"({"event":"exit","code":18446744073709551615})"}) {
    std::string why;
    EXPECT_FALSE(decode_guest_event(bad, &why)) << bad;
    EXPECT_NE(why.find("must be an integer"), std::string::npos) << bad << ": " << why;
  }
  auto x = decode_guest_event(R"({"event":"exit","code":-2147483648,"signal":9})");
  ASSERT_TRUE(x && std::holds_alternative<ExitEvent>(*x));
  EXPECT_EQ(std::get<ExitEvent>(*x).code, INT_MIN);
  EXPECT_EQ(std::get<ExitEvent>(*x).signal, 9);
}

TEST(ContractControl, FreezeMessagesAndFrozenEventsRoundTrip) {
  EXPECT_EQ(encode(HostMessage{FreezeMsg{true}}), "{\"freeze\":true}\n");
  EXPECT_EQ(encode(HostMessage{FreezeMsg{false}}), "{\"freeze\":false}\n");
  for (bool want : {true, false}) {
    auto line = encode(HostMessage{FreezeMsg{want}});
    auto m = decode_host_message(line.substr(0, line.size() - 1));
    ASSERT_TRUE(m && std::holds_alternative<FreezeMsg>(*m));
    EXPECT_EQ(std::get<FreezeMsg>(*m).freeze, want);
  }
  EXPECT_EQ(encode(GuestEvent{FrozenEvent{true, ""}}), "{\"event\":\"frozen\",\"frozen\":true}\n");
  auto e = encode(GuestEvent{FrozenEvent{false, "FIFREEZE /mnt/rw:\nOperation not supported"}});
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << "a newline in the reason stays escaped";
  auto back = decode_guest_event(e.substr(0, e.size() - 1));
  ASSERT_TRUE(back && std::holds_alternative<FrozenEvent>(*back));
  EXPECT_FALSE(std::get<FrozenEvent>(*back).frozen);
  EXPECT_EQ(std::get<FrozenEvent>(*back).error, "FIFREEZE /mnt/rw:\nOperation not supported");
  auto ok = decode_guest_event(R"({"event":"frozen","frozen":true})");
  ASSERT_TRUE(ok && std::holds_alternative<FrozenEvent>(*ok));
  EXPECT_TRUE(std::get<FrozenEvent>(*ok).frozen);
  EXPECT_TRUE(std::get<FrozenEvent>(*ok).error.empty());
}

TEST(ContractControl, MalformedFreezeMessagesAndFrozenEventsAreRefusedSayingWhy) {
  for (std::string bad : {R"({"freeze":1})", R"({"freeze":"true"})", R"({"freeze":null})", R"({"frozen":true})"}) {
    std::string why;
    EXPECT_FALSE(decode_host_message(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  for (std::string bad : {R"({"event":"frozen"})", R"({"event":"frozen","frozen":1})",
                          R"({"event":"frozen","frozen":"yes"})", R"({"event":"frozen","frozen":true,"error":5})",
                          R"({"freeze":true})"}) {
    std::string why;
    EXPECT_FALSE(decode_guest_event(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

// Decodes the line encode() made (without its newline).
template <class T, class V>
T round_trip(const V& v) {
  std::string line = encode(v);
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
  std::string why;
  std::optional<V> back;
  if constexpr (std::is_same_v<V, HostMessage>) back = decode_host_message(line.substr(0, line.size() - 1), &why);
  else back = decode_guest_event(line.substr(0, line.size() - 1), &why);
  EXPECT_TRUE(back) << line << ": " << why;
  if (!back || !std::holds_alternative<T>(*back)) return T{};
  return std::get<T>(*back);
}

TEST(ContractControl, ExecMessagesRoundTripWithTheirSessionAndBinaryData) {
  ExecStartMsg s;
  s.id = 7;
  s.spec.args = {"/bin/sh", "-c", "echo \"hi\"\nthere"};
  s.spec.env = {"PATH=/bin", "A=b=c"};
  s.spec.cwd = "/tmp";
  s.spec.user = "1000:1000";
  s.spec.tty = true;
  s.spec.tty_rows = 40;
  s.spec.tty_cols = 132;
  s.stdin_open = true;
  auto sb = round_trip<ExecStartMsg>(HostMessage{s});
  EXPECT_EQ(sb.id, 7u);
  EXPECT_EQ(sb.spec.args, s.spec.args);
  EXPECT_EQ(sb.spec.env, s.spec.env);
  EXPECT_EQ(sb.spec.cwd, "/tmp");
  EXPECT_EQ(sb.spec.user, "1000:1000");
  EXPECT_TRUE(sb.spec.tty);
  EXPECT_EQ(sb.spec.tty_rows, 40);
  EXPECT_EQ(sb.spec.tty_cols, 132);
  EXPECT_TRUE(sb.stdin_open);
  EXPECT_EQ(sb.extract_to, "");
  // docker cp into a microVM: the session unpacks its input instead.
  s.extract_to = "/tmp/dest";
  s.extract_no_dir_swap = true;
  auto cp = round_trip<ExecStartMsg>(HostMessage{s});
  EXPECT_EQ(cp.extract_to, "/tmp/dest");
  EXPECT_TRUE(cp.extract_no_dir_swap);
  for (const char* bad : {R"({"exec":{"id":1,"args":["x"],"env":[],"cwd":"","user":"","tty":false,"stdin":true,"rows":0,"cols":0,"extract":{"dir":"rel","no_dir_swap":false}}})",
                          R"({"exec":{"id":1,"args":["x"],"env":[],"cwd":"","user":"","tty":false,"stdin":true,"rows":0,"cols":0,"extract":"/tmp"}})",
                          R"({"exec":{"id":1,"args":["x"],"env":[],"cwd":"","user":"","tty":false,"stdin":true,"rows":0,"cols":0,"extract":{"dir":"/tmp"}}})"}) {
    std::string why;
    EXPECT_FALSE(decode_host_message(bad, &why)) << bad;
    EXPECT_NE(why.find("extract must be"), std::string::npos) << why;
  }

  std::string binary;
  for (int i = 0; i < int(kExecChunk); ++i) binary.push_back(char(i * 7));
  auto in = round_trip<ExecInputMsg>(HostMessage{ExecInputMsg{9, binary}});
  EXPECT_EQ(in.id, 9u);
  EXPECT_EQ(in.data, binary);
  EXPECT_LT(encode(HostMessage{ExecInputMsg{9, binary}}).size(), LineBuffer::kMaxLine);
  EXPECT_EQ(round_trip<ExecEofMsg>(HostMessage{ExecEofMsg{4294967295u}}).id, 4294967295u);
  auto sig = round_trip<ExecSignalMsg>(HostMessage{ExecSignalMsg{3, SIGINT}});
  EXPECT_EQ(sig.id, 3u);
  EXPECT_EQ(sig.signal, SIGINT);
  auto ws = round_trip<ExecWinsizeMsg>(HostMessage{ExecWinsizeMsg{3, 50, 200}});
  EXPECT_EQ(ws.rows, 50);
  EXPECT_EQ(ws.cols, 200);

  auto out = round_trip<ExecOutputEvent>(GuestEvent{ExecOutputEvent{5, 2, binary}});
  EXPECT_EQ(out.id, 5u);
  EXPECT_EQ(out.fd, 2);
  EXPECT_EQ(out.data, binary);
  auto rd = round_trip<ExecReadEvent>(GuestEvent{ExecReadEvent{5, 1u << 20}});
  EXPECT_EQ(rd.id, 5u);
  EXPECT_EQ(rd.bytes, 1u << 20);
  auto ex = round_trip<ExecExitEvent>(GuestEvent{ExecExitEvent{5, 127, 0, "exec: \"nope\": not found"}});
  EXPECT_EQ(ex.code, 127);
  EXPECT_EQ(ex.error, "exec: \"nope\": not found");
  EXPECT_EQ(round_trip<ExecExitEvent>(GuestEvent{ExecExitEvent{5, 0, 9, ""}}).signal, 9);
}

TEST(ContractControl, AnExecThatCannotTravelAsOneJsonLineIsRefusedBeforeItIsSent) {
  ExecStartMsg m;
  m.spec.args = {"/bin/echo", "fine"};
  EXPECT_EQ(exec_start_problem(m), "");
  m.spec.args = {"/bin/echo", std::string("\xff\xfe", 2)};
  EXPECT_NE(exec_start_problem(m).find("UTF-8"), std::string::npos) << exec_start_problem(m);
  m.spec.args = {"/bin/echo"};
  m.spec.env = {std::string(70000, 'x')};
  EXPECT_NE(exec_start_problem(m).find("too long"), std::string::npos) << exec_start_problem(m);
  m.spec.env = {};
  m.spec.cwd = std::string("/\xc3", 2);
  EXPECT_NE(exec_start_problem(m).find("UTF-8"), std::string::npos);
}

TEST(ContractControl, ARestoredMessageCarriesTheClockAndASeedAsHex) {
  const std::string seed(kRestoreSeedBytes, '\xab');
  const std::string line = encode(HostMessage{RestoredMsg{1764960000123456789, seed}});
  std::string hex;
  for (size_t i = 0; i < kRestoreSeedBytes; ++i) hex += "ab";
  EXPECT_EQ(line, "{\"restored\":{\"seed\":\"" + hex + "\",\"time_ns\":1764960000123456789}}\n");
  auto back = decode_host_message(line);
  ASSERT_TRUE(back);
  const auto* r = std::get_if<RestoredMsg>(&*back);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->time_ns, 1764960000123456789);
  EXPECT_EQ(r->seed, seed);
  EXPECT_FALSE(exec_session(*back));
}

TEST(ContractControl, ARestoredMessageWithABadClockOrSeedIsRefusedSayingWhy) {
  const std::string seed64(64, 'a');
  for (const auto& [line, why] : std::vector<std::pair<std::string, std::string>>{
           {"{\"restored\":1}", "restored must be an object"},
           {"{\"restored\":{\"seed\":\"" + seed64 + "\"}}", "time_ns"},
           {"{\"restored\":{\"time_ns\":-5,\"seed\":\"" + seed64 + "\"}}", "time_ns"},
           {"{\"restored\":{\"time_ns\":\"1\",\"seed\":\"" + seed64 + "\"}}", "time_ns"},
           {"{\"restored\":{\"time_ns\":1,\"seed\":\"abcd\"}}", "seed must be 32 bytes"},
           {"{\"restored\":{\"time_ns\":1,\"seed\":\"" + std::string(64, 'z') + "\"}}", "seed must be 32 bytes"},
           {"{\"restored\":{\"time_ns\":1}}", "seed must be 32 bytes"}}) {
    std::string got;
    EXPECT_FALSE(decode_host_message(line, &got)) << line;
    EXPECT_NE(got.find(why), std::string::npos) << line << " -> " << got;
  }
}

TEST(ContractControl, ARestoredCloneOfANetworkedVmGetsItsCardsNewPlan) {
  const std::string seed(kRestoreSeedBytes, '\x01');
  GuestNetwork n;
  n.mac = "02:42:0a:58:00:07";
  n.address = "10.88.0.7";
  n.prefix = 16;
  n.gateway = "10.88.0.1";
  n.mtu = 1400;
  auto back = decode_host_message(encode(HostMessage{RestoredMsg{5, seed, n}}));
  ASSERT_TRUE(back);
  const auto* r = std::get_if<RestoredMsg>(&*back);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->network);
  EXPECT_EQ(r->network->mac, n.mac);
  EXPECT_EQ(r->network->ifname, "eth0");
  EXPECT_EQ(r->network->address, n.address);
  EXPECT_EQ(r->network->prefix, 16);
  EXPECT_EQ(r->network->gateway, n.gateway);
  EXPECT_EQ(r->network->mtu, 1400);
  // Without one (a VM with no card, or a template's restore): none.
  back = decode_host_message(encode(HostMessage{RestoredMsg{5, seed, std::nullopt}}));
  ASSERT_TRUE(back);
  EXPECT_FALSE(std::get<RestoredMsg>(*back).network);
}

TEST(ContractControl, ARestoredMessageWithAMalformedNetworkPlanIsRefusedSayingWhy) {
  const std::string head = "{\"restored\":{\"time_ns\":1,\"seed\":\"" + std::string(64, 'a') + "\",\"network\":";
  for (const auto& [net, why] : std::vector<std::pair<std::string, std::string>>{
           {"7", "must be a JSON object"},
           {"{\"mac\":\"02:00:00:00:00:01\"}", "needs an address"},
           {"{\"address\":\"10.0.0.2\",\"mac\":\"02:00:00:00:00:01\",\"prefix\":\"x\"}", "not a network plan"},
           {"{\"address\":\"10.0.0.2\",\"mac\":\"02:00:00:00:00:01\",\"mtu\":1e30}", "must be an integer"}}) {
    std::string got;
    EXPECT_FALSE(decode_host_message(head + net + "}}", &got)) << net;
    EXPECT_NE(got.find("restored: network: "), std::string::npos) << net << " -> " << got;
    EXPECT_NE(got.find(why), std::string::npos) << net << " -> " << got;
  }
}

TEST(ContractControl, ASpecMessageCarriesTheGuestSpecTextAndTheDiskSizes) {
  const std::string text = "{\"workload\":{\"args\":[\"true\"]}}";
  const std::string line = encode(HostMessage{SpecMsg{text, {4194304, 4294967296}}});
  auto back = decode_host_message(line);
  ASSERT_TRUE(back);
  const auto* m = std::get_if<SpecMsg>(&*back);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text, text);
  EXPECT_EQ(m->disk_bytes, (std::vector<uint64_t>{4194304, 4294967296}));
  for (const auto& [bad, why] : std::vector<std::pair<std::string, std::string>>{
           {"{\"spec\":\"x\"}", "spec must be an object"},
           {"{\"spec\":{\"disks\":[]}}", "text must be a non-empty string"},
           {"{\"spec\":{\"text\":\"{}\"}}", "disks must be a list"},
           {"{\"spec\":{\"text\":\"{}\",\"disks\":[-1]}}", "disks must be a list"},
           {"{\"spec\":{\"text\":\"{}\",\"disks\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}}", "disks must be a list"}}) {
    std::string got;
    EXPECT_FALSE(decode_host_message(bad, &got)) << bad;
    EXPECT_NE(got.find(why), std::string::npos) << bad << " -> " << got;
  }
}

TEST(ContractGuestSpec, OnlyTheExactTemplateMarkerMakesATemplateGuest) {
  EXPECT_TRUE(is_template_spec(kTemplateSpecJson));
  EXPECT_FALSE(is_template_spec("{\"template\": true}"));
  EXPECT_FALSE(is_template_spec(to_json(GuestSpec{})));
}

TEST(ContractControl, OnlyExecMessagesHaveASessionAndItCanBeRewritten) {
  HostMessage m = ExecSignalMsg{1, SIGTERM};
  EXPECT_EQ(exec_session(m), 1u);
  set_exec_session(m, 42);
  EXPECT_EQ(std::get<ExecSignalMsg>(m).id, 42u);
  EXPECT_EQ(exec_session(HostMessage{SignalMsg{15}}), std::nullopt);
  EXPECT_EQ(exec_session(HostMessage{FreezeMsg{true}}), std::nullopt);
  HostMessage w = WinsizeMsg{1, 2};
  set_exec_session(w, 42);  // no session: unchanged
  EXPECT_EQ(std::get<WinsizeMsg>(w).rows, 1);
  GuestEvent e = ExecOutputEvent{3, 1, "x"};
  EXPECT_EQ(exec_session(e), 3u);
  set_exec_session(e, 8);
  EXPECT_EQ(exec_session(e), 8u);
  EXPECT_EQ(exec_session(GuestEvent{ExitEvent{0, 0, false, ""}}), std::nullopt);
}

TEST(ContractControl, HostileExecMessagesAndEventsAreRefusedSayingWhy) {
  const std::string big = std::string(((kExecChunk + 3) / 3 + 1) * 4, 'A');  // decodes to > 16 KiB
  for (const std::string& bad : std::vector<std::string>{
           R"({"exec":1})", R"({"exec":{"id":1,"args":[],"env":[],"tty":false,"stdin":false,"rows":0,"cols":0}})",
        R"({"exec":{"id":1,"args":["sh",1],"env":[],"tty":false,"stdin":false,"rows":0,"cols":0}})",
        R"({"exec":{"id":-1,"args":["sh"],"env":[],"tty":false,"stdin":false,"rows":0,"cols":0}})",
        R"({"exec":{"id":4294967296,"args":["sh"],"env":[],"tty":false,"stdin":false,"rows":0,"cols":0}})",
        R"({"exec":{"id":1,"args":["sh"],"env":"A=b","tty":false,"stdin":false,"rows":0,"cols":0}})",
        R"({"exec":{"id":1,"args":["sh"],"env":[],"cwd":5,"tty":false,"stdin":false,"rows":0,"cols":0}})",
        R"({"exec":{"id":1,"args":["sh"],"env":[],"tty":"yes","stdin":false,"rows":0,"cols":0}})",
        R"({"exec":{"id":1,"args":["sh"],"env":[],"tty":false,"rows":0,"cols":0}})",
        R"({"exec":{"id":1,"args":["sh"],"env":[],"tty":false,"stdin":false,"rows":70000,"cols":0}})",
        R"({"exec":{"id":1,"args":["sh"],"env":[],"tty":false,"stdin":false,"rows":1.5,"cols":0}})",
        R"({"exec_stdin":{"id":1,"data":"Zg="}})", R"({"exec_stdin":{"id":1,"data":5}})",
        R"({"exec_stdin":{"data":"Zg=="}})", R"({"exec_stdin":{"id":1,"data":")" + big + R"("}})",
        R"({"exec_eof":-1})", R"({"exec_eof":"1"})", R"({"exec_signal":{"id":1,"signal":0}})",
        R"({"exec_signal":{"id":1,"signal":65}})", R"({"exec_signal":{"id":1}})",
        R"({"exec_winsize":{"id":1,"rows":-2,"cols":80}})", R"({"exec_winsize":[1,2]})"}) {
    std::string why;
    EXPECT_FALSE(decode_host_message(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  for (const std::string& bad : std::vector<std::string>{
           R"({"event":"exec_output","id":1,"fd":0,"data":""})",
                          R"({"event":"exec_output","id":1,"fd":3,"data":""})",
                          R"({"event":"exec_output","id":1,"fd":1,"data":"!!!!"})",
                          R"({"event":"exec_output","id":1,"fd":1,"data":")" + big + R"("})",
                          R"({"event":"exec_output","fd":1,"data":""})",
                          R"({"event":"exec_exit","id":1,"code":256,"signal":0})",
                          R"({"event":"exec_exit","id":1,"code":-1,"signal":0})",
                          R"({"event":"exec_exit","id":1,"code":0,"signal":65})",
                          R"({"event":"exec_exit","id":1,"code":0,"signal":0,"error":[]})",
                          R"({"event":"exec_read","id":1,"bytes":-5})", R"({"event":"exec_read","id":1})"}) {
    std::string why;
    EXPECT_FALSE(decode_guest_event(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(ContractLineBuffer, SplitsChunksIntoLinesAndDropsOverlongOnes) {
  LineBuffer b;
  b.append("{\"a\":1}\n{\"b\"");
  EXPECT_EQ(b.next(), "{\"a\":1}");
  EXPECT_FALSE(b.next());
  b.append(":2}\n");
  EXPECT_EQ(b.next(), "{\"b\":2}");
  EXPECT_FALSE(b.next());
  // An overlong line is dropped whole, even when it arrives in pieces; the
  // next line is intact.
  b.append(std::string(LineBuffer::kMaxLine, 'x'));
  b.append("yy");
  EXPECT_FALSE(b.next());
  b.append(std::string(1000, 'z') + "\nafter\n");
  EXPECT_EQ(b.next(), "after");
  EXPECT_FALSE(b.next());
}

container::RunSpec host_spec() {
  container::RunSpec s;
  s.id = std::string(64, 'a');
  s.args = {"sh"};
  s.lowerdirs = {"/var/lib/hvrun/layers/x/diff"};
  s.upperdir = "/var/lib/hvrun/containers/a/upper";
  s.workdir = "/var/lib/hvrun/containers/a/work";
  s.cgroup_root = "/sys/fs/cgroup";
  s.mounts = {{"/srv/data", "/data", false}, {"/etc/app.conf", "/etc/app.conf", true}};
  return s;
}

TEST(ContractGuestSpec, HostPathsStayOnTheHostAndVolumesBecomeShares) {
  auto g = make_guest_spec(host_spec(), {{"/data", false, false}, {"/etc/app.conf", true, true}});
  EXPECT_TRUE(g.workload.mounts.empty());
  EXPECT_TRUE(g.workload.lowerdirs.empty());
  EXPECT_TRUE(g.workload.upperdir.empty());
  EXPECT_TRUE(g.workload.workdir.empty());
  EXPECT_TRUE(g.workload.cgroup_root.empty());
  ASSERT_EQ(g.volumes.size(), 2u);
  EXPECT_EQ(g.volumes[1].target, "/etc/app.conf");
  EXPECT_TRUE(g.volumes[1].file);
  EXPECT_FALSE(g.hosts_share);
  EXPECT_FALSE(g.has_network);
  EXPECT_EQ(g.workload.net, container::NetMode::None);
}

TEST(ContractGuestSpec, BridgeNetBecomesTheGuestsNetworkPlanWithTheWorkloadOnIt) {
  auto s = host_spec();
  s.mounts.clear();
  s.net = container::NetMode::Bridge;
  s.netcfg.address = "10.66.0.7";
  s.netcfg.prefix = 16;
  s.netcfg.gateway = "10.66.0.1";
  s.netcfg.mac = "02:42:0a:42:00:07";
  s.netcfg.mtu = 1400;
  s.netcfg.hosts_path = "/var/lib/hvrun/containers/a/etc/hosts";
  auto g = make_guest_spec(s, {});
  ASSERT_TRUE(g.has_network);
  EXPECT_EQ(g.network.address, "10.66.0.7");
  EXPECT_EQ(g.network.prefix, 16);
  EXPECT_EQ(g.network.gateway, "10.66.0.1");
  EXPECT_EQ(g.network.mac, "02:42:0a:42:00:07");
  EXPECT_EQ(g.network.mtu, 1400);
  EXPECT_EQ(g.workload.net, container::NetMode::Host);
  EXPECT_TRUE(g.hosts_share);
  EXPECT_EQ(g.workload.netcfg.hosts_path, "") << "the host's path never reaches the guest";
  EXPECT_EQ(g.workload.netcfg.address, "10.66.0.7") << "kept for /etc/hosts";
}

TEST(ContractGuestSpec, RefusesTooManyVolumesAMismatchAndHostNet) {
  auto s = host_spec();
  EXPECT_THROW(make_guest_spec(s, {{"/data", false, false}}), Error);
  s.mounts.assign(kMaxVolumes + 1, {"/srv", "/srv", false});
  std::vector<Volume> v(kMaxVolumes + 1, Volume{"/srv", false, false});
  try {
    make_guest_spec(s, v);
    FAIL() << "13 volumes accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most 12"), std::string::npos) << e.what();
  }
  s = host_spec();
  s.mounts.clear();
  s.net = container::NetMode::Host;
  EXPECT_THROW(make_guest_spec(s, {}), Error);
}

TEST(ContractGuestSpec, JsonRoundTripsAndBadTextIsRefusedSayingWhy) {
  auto s = host_spec();
  s.net = container::NetMode::Bridge;
  s.netcfg.address = "10.66.0.7";
  auto g = make_guest_spec(s, {{"/data", false, false}, {"/etc/app.conf", true, true}});
  auto back = parse_guest_spec(to_json(g));
  EXPECT_EQ(back.workload.args, g.workload.args);
  EXPECT_EQ(back.workload.net, container::NetMode::Host);
  ASSERT_EQ(back.volumes.size(), 2u);
  EXPECT_TRUE(back.volumes[1].readonly);
  EXPECT_TRUE(back.has_network);
  EXPECT_EQ(back.network.address, "10.66.0.7");
  EXPECT_TRUE(back.more_networks.empty());
  // A card more per network connected after create (engine/vm_backend.hpp).
  g.more_networks.push_back({"02:42:0a:43:00:05", "eth1", "10.67.0.5", 24, "", 1400});
  back = parse_guest_spec(to_json(g));
  ASSERT_EQ(back.more_networks.size(), 1u);
  EXPECT_EQ(back.more_networks[0].mac, "02:42:0a:43:00:05");
  EXPECT_EQ(back.more_networks[0].ifname, "eth1");
  EXPECT_EQ(back.more_networks[0].address, "10.67.0.5");
  EXPECT_EQ(back.more_networks[0].prefix, 24);
  EXPECT_EQ(back.more_networks[0].gateway, "");
  EXPECT_EQ(back.more_networks[0].mtu, 1400);
  g.more_networks[0].mac.clear();
  try {
    parse_guest_spec(to_json(g));
    ADD_FAILURE() << "a second card without a MAC was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "spec.json: more_networks[0] needs an address, a MAC and an interface name");
  }
  // Absent fields keep their defaults.
  auto min = parse_guest_spec(R"({"workload":{"args":["true"]}})");
  EXPECT_EQ(min.workload.cwd, "/");
  EXPECT_FALSE(min.has_network);
  for (std::string bad : {"{not json", "[1,2]", R"({"args":["true"]})", R"({"workload":{"args":"x"}})"}) {
    EXPECT_THROW(parse_guest_spec(bad), Error) << bad;
  }
}

// Found writing tests/fuzz/guest_spec (its UBSan build reports it):
// {"prefix":1e30} reached nlohmann's get<int>() of a float out of range
// (undefined behaviour in guest-init).
// Only workload.cpus may be a non-integer number.
TEST(ContractGuestSpec, FloatsOutsideCpusAreRefusedNamingTheField) {
  auto error_of = [](const std::string& text) {
    try {
      parse_guest_spec(text);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error_of(R"({"workload":{"args":["true"]},"network":{"prefix":1e30}})"),
            "spec.json: /network/prefix must be an integer, not 1e+30");
  EXPECT_NE(error_of(R"({"workload":{"args":["true"],"tty_rows":-7.5}})").find("/workload/tty_rows must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"workload":{"args":["true"],"netcfg":{"mtu":1e10}}})").find("/workload/netcfg/mtu"),
            std::string::npos);
  auto ok = parse_guest_spec(R"({"workload":{"args":["true"],"cpus":1.5,"memory_bytes":67108864}})");
  EXPECT_DOUBLE_EQ(ok.workload.cpus, 1.5);
  EXPECT_EQ(ok.workload.memory_bytes, 67108864);
}

TEST(ContractPlan, NamesDevicesAndLimitsAsGuestInitFindsThem) {
  EXPECT_EQ(disk_device(Disk::Image), "/dev/vda");
  EXPECT_EQ(disk_device(Disk::Writable), "/dev/vdb");
  EXPECT_EQ(console_device(Console::Stdio), "/dev/hvc0");
  EXPECT_EQ(console_device(Console::Stderr), "/dev/hvc1");
  EXPECT_EQ(console_device(Console::Control), "/dev/hvc2");
  EXPECT_EQ(volume_tag(3), "hvrun-vol3");
  EXPECT_EQ(kDiskCount + kConsoleCount + kMaxNics + 1 + kMaxVolumes, kMaxVirtioSlots);
  EXPECT_EQ(kBootTimerPort, 0x3f0);
}

}  // namespace
}  // namespace hvrun::contract
