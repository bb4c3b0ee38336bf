// The Docker API's JSON to hvrun's types (api/docker_convert.hpp) and the
// request target parser (api/http.hpp): what docker and docker-py send
// maps to the CLI's options; wrong types are a 400 naming the field.
#include <gtest/gtest.h>

#include "api/docker_convert.hpp"
#include "api/http.hpp"

namespace hvrun::api {
namespace {

using nlohmann::json;

engine::RunOptions convert(const std::string& body, std::vector<std::string>* warnings = nullptr) {
  std::vector<std::string> w;
  engine::RunOptions o = run_options_of(parse_body(body), "n1", w);
  if (warnings) *warnings = w;
  return o;
}

int status_of(const std::string& body) {
  try {
    convert(body);
  } catch (const ApiError& e) {
    return e.status;
  }
  return 0;
}

std::string message_of(const std::string& body) {
  try {
    convert(body);
  } catch (const ApiError& e) {
    return e.what();
  }
  return "";
}

TEST(ApiDockerConvert, ADockerCliCreateBodyBecomesTheRunOptionsOfTheSameFlags) {
  // What `docker run --rm -it -e A=b -w /tmp -u 65534 -h hh -m 64m --cpus 1.5 --pids-limit 50
  // -v /srv:/srv:ro -p 127.0.0.1:8080:80 --tmpfs /run:size=1m --ulimit nofile=10:20 --runtime vm
  // --network none --read-only --cap-drop NET_RAW busybox sh -c true` sends (trimmed).
  engine::RunOptions o = convert(R"({"Hostname":"hh","User":"65534","Tty":true,"OpenStdin":true,
    "Env":["A=b","FROM_SERVER"],"Cmd":["sh","-c","true"],"Image":"busybox","WorkingDir":"/tmp","Entrypoint":null,
    "HostConfig":{"Binds":["/srv:/srv:ro"],"NetworkMode":"none","PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},
    "AutoRemove":true,"CapDrop":["NET_RAW"],"ReadonlyRootfs":true,"Tmpfs":{"/run":"size=1m"},"Runtime":"vm",
    "Memory":67108864,"NanoCpus":1500000000,"PidsLimit":50,"Ulimits":[{"Name":"nofile","Hard":20,"Soft":10}]}})");
  EXPECT_EQ(o.name, "n1");
  EXPECT_EQ(o.image, "busybox");
  EXPECT_EQ(o.command, (std::vector<std::string>{"sh", "-c", "true"}));
  EXPECT_FALSE(o.entrypoint.has_value());
  EXPECT_EQ(o.env, std::vector<std::string>{"A=b"}) << "a bare name would take the server's own value";
  EXPECT_EQ(o.workdir, "/tmp");
  EXPECT_EQ(o.user, "65534");
  EXPECT_EQ(o.hostname, "hh");
  EXPECT_TRUE(o.tty && o.interactive && o.auto_remove && o.read_only);
  EXPECT_EQ(o.mode, engine::Mode::Vm);
  EXPECT_EQ(o.volumes, std::vector<std::string>{"/srv:/srv:ro"});
  EXPECT_EQ(o.publish, std::vector<std::string>{"127.0.0.1:8080:80/tcp"});
  EXPECT_EQ(o.tmpfs, std::vector<std::string>{"/run:size=1m"});
  EXPECT_EQ(o.ulimits, std::vector<std::string>{"nofile=10:20"});
  EXPECT_EQ(o.memory, "67108864");
  EXPECT_EQ(o.cpus, "1.5");
  EXPECT_EQ(o.pids_limit, "50");
  EXPECT_EQ(o.net, "none");
  EXPECT_EQ(o.cap_drop, std::vector<std::string>{"NET_RAW"});
}

TEST(ApiDockerConvert, DefaultsAnEntrypointAndLabelsAreDockers) {
  std::vector<std::string> w;
  engine::RunOptions o = convert(R"({"Image":"bb","Entrypoint":["/bin/x"],"Labels":{"a":"b"},
    "HostConfig":{"NetworkMode":"default","Runtime":"runc"}})", &w);
  EXPECT_EQ(o.mode, engine::Mode::Container);
  EXPECT_EQ(o.net, "") << "default: the server's default network";
  ASSERT_TRUE(o.entrypoint.has_value());
  EXPECT_EQ(*o.entrypoint, std::vector<std::string>{"/bin/x"});
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(o.labels, std::vector<std::string>{"a=b"});
  EXPECT_THROW(convert(R"({"Image":"bb","Labels":{"a":1}})"), ApiError) << "a label's value is a string";
  EXPECT_THROW(convert(R"({"Image":"bb","Labels":["a=b"]})"), ApiError);
  std::vector<std::string> ignored;
  const engine::RunOptions all = convert(R"({"Image":"bb","HostConfig":{"Sysctls":{"a":"1"},"PidMode":"host","IpcMode":"host","UTSMode":"host",
    "PublishAllPorts":true,"Mounts":[{"Type":"volume","Source":"v","Target":"/v","ReadOnly":true},
    {"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}],
    "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"Init":true,"ExtraHosts":["db:192.0.2.9"],
    "Dns":["192.0.2.53"],"DnsSearch":["corp"],"DnsOptions":["ndots:2"]},"StopSignal":"SIGUSR1","StopTimeout":4})", &ignored);
  EXPECT_EQ(ignored, (std::vector<std::string>{"Sysctls is not supported by hvrun yet: ignored",
                                               "UTSMode \"host\" is not supported by hvrun yet: ignored"}));
  EXPECT_EQ(all.pid, "host") << "docker run --pid host";
  EXPECT_EQ(all.ipc, "host") << "docker run --ipc host";
  EXPECT_TRUE(all.publish_all);
  EXPECT_EQ(all.mounts, (std::vector<std::string>{"type=volume,target=/v,source=v,readonly",
                                                  "type=tmpfs,target=/t,tmpfs-size=1048576,tmpfs-mode=700"}));
  EXPECT_EQ(all.restart, "on-failure:3");
  EXPECT_TRUE(all.init);
  EXPECT_EQ(all.add_hosts, std::vector<std::string>{"db:192.0.2.9"});
  EXPECT_EQ(all.dns, std::vector<std::string>{"192.0.2.53"});
  EXPECT_EQ(all.dns_search, std::vector<std::string>{"corp"});
  EXPECT_EQ(all.dns_options, std::vector<std::string>{"ndots:2"});
  EXPECT_EQ(all.stop_signal, "SIGUSR1");
  EXPECT_EQ(all.stop_timeout, 4);
  EXPECT_EQ(convert(R"({"Image":"bb","Entrypoint":[]})").entrypoint, std::vector<std::string>{});
  EXPECT_EQ(convert(R"({"Image":"bb","UnknownField":{"x":1}})").image, "bb") << "unknown fields are ignored";
}

TEST(ApiDockerConvert, WrongTypesAndValuesAre400NamingTheField) {
  EXPECT_EQ(status_of("{oops"), 400);
  EXPECT_EQ(message_of("{oops").rfind("invalid JSON body: ", 0), 0u);
  EXPECT_EQ(message_of("[1,2]"), "invalid JSON body: expected an object");
  EXPECT_EQ(message_of("{}"), "config has no Image");
  EXPECT_EQ(message_of(R"({"Image":5})"), "invalid Image: expected a string");
  EXPECT_EQ(message_of(R"({"Image":"b","Cmd":[1]})"), "invalid Cmd: expected an array of strings");
  EXPECT_EQ(message_of(R"({"Image":"b","Tty":"yes"})"), "invalid Tty: expected true or false");
  EXPECT_EQ(message_of(R"({"Image":"b","HostConfig":[]})"), "invalid HostConfig: expected an object");
  EXPECT_EQ(message_of(R"({"Image":"b","HostConfig":{"Memory":1.5}})"), "invalid Memory: expected an integer");
  EXPECT_EQ(message_of(R"({"Image":"b","HostConfig":{"Runtime":"kata"}})"),
            "unknown runtime \"kata\": hvrun has container and vm");
  EXPECT_EQ(message_of(R"({"Image":"b","HostConfig":{"PortBindings":{"80/tcp":[{}]}}})"), "");  // a free host port
  EXPECT_EQ(message_of(R"({"Image":"b","HostConfig":{"Ulimits":[7]}})"), "invalid Ulimits: expected objects");
  EXPECT_EQ(status_of(R"({"Image":"b","HostConfig":{"Tmpfs":{"/x":3}}})"), 400);
}

TEST(ApiDockerConvert, PortMapsFiltersAndFrames) {
  EXPECT_EQ(port_map({"8080:80/tcp", "127.0.0.1:53:53/udp"}),
            json::parse(R"({"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],
                            "53/udp":[{"HostIp":"127.0.0.1","HostPort":"53"}]})"));
  EXPECT_EQ(parse_filters(R"({"name":["a","b"],"status":{"exited":true,"running":false}})"),
            (std::map<std::string, std::vector<std::string>>{{"name", {"a", "b"}}, {"status", {"exited"}}}));
  EXPECT_TRUE(parse_filters("").empty());
  EXPECT_THROW(parse_filters("{bad"), ApiError);
  EXPECT_THROW(parse_filters(R"({"name":"a"})"), ApiError);
  EXPECT_EQ(frame(engine::Stream::Stderr, "hi"), std::string("\x02\0\0\0\0\0\0\x02hi", 10));
  EXPECT_EQ(frame(engine::Stream::Stdout, std::string(300, 'x')).substr(0, 8), std::string("\x01\0\0\0\0\0\x01\x2c", 8));
}

TEST(ApiHttp, TargetsAreSplitAndDecodedAsDockerClientsSendThem) {
  Request r;
  parse_target("/v1.41/containers/my%20c/json?all=1&filters=%7B%22name%22%3A%5B%22x%22%5D%7D&names=a&names=b+c&flag", r);
  EXPECT_EQ(r.path, "/v1.41/containers/my c/json");
  EXPECT_EQ(r.param("filters"), R"({"name":["x"]})");
  EXPECT_TRUE(r.flag("all"));
  EXPECT_FALSE(r.flag("flag")) << "present without a value is not true";
  EXPECT_EQ(r.param("names"), "b c");
  ASSERT_EQ(r.query_list.size(), 5u);
  EXPECT_EQ(r.query_list[2], (std::pair<std::string, std::string>{"names", "a"}));
  EXPECT_EQ(percent_decode("%zz%4", false), "%zz%4") << "broken escapes are kept as they are";
  EXPECT_EQ(percent_decode("a+b%2B", true), "a b+");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
}

}  // namespace
}  // namespace hvrun::api
