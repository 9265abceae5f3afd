// The pieces of exec that read untrusted bytes, without a cluster: the stream framing between the
// API server and the node, the node's exec request parser, the API server's exec query and
// subprotocol choice, and the Status JSON that carries the exit code.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "apiserver/endpoints/pod_exec.h"
#include "common/stream_frames.h"
#include "runtime/exec_session.h"

namespace podnet {
namespace {

namespace json = boost::json;

TEST(StreamFrames, RoundTripInAnySplitOfTheBytes) {
  std::string wire = streams::encode_frame(1, "hello") + streams::encode_frame(255, std::string(1, '\0')) +
                     streams::encode_frame(2, "") + streams::encode_frame(0, std::string(70000, 'x'));
  for (size_t step : {1, 3, 7, 4096, 1 << 20}) {
    streams::FrameDecoder d;
    std::vector<streams::Frame> got;
    for (size_t i = 0; i < wire.size(); i += step) {
      ASSERT_TRUE(d.feed(std::string_view(wire).substr(i, step)));
      while (auto f = d.next()) got.push_back(*f);
    }
    ASSERT_EQ(got.size(), 4u) << step;
    EXPECT_EQ(got[0].channel, 1);
    EXPECT_EQ(got[0].payload, "hello");
    EXPECT_EQ(got[1].channel, 255);
    EXPECT_EQ(got[1].payload, std::string(1, '\0'));
    EXPECT_EQ(got[2].payload, "");
    EXPECT_EQ(got[3].payload.size(), 70000u);
    EXPECT_EQ(d.buffered(), 0u);
  }
}

TEST(StreamFrames, AnOversizedLengthIsAnErrorBeforeItsPayloadArrives) {
  streams::FrameDecoder d;
  std::string head = {'\x01', '\x7f', '\xff', '\xff', '\xff'};
  EXPECT_FALSE(d.feed(head));
  EXPECT_TRUE(d.bad());
  EXPECT_FALSE(d.next());
  EXPECT_FALSE(d.feed("more"));
}

TEST(ExecRequest, KubeletParameters) {
  auto r = runtime::parse_exec_request(
      "/exec/default/web/c?command=sh&command=-c&command=echo%20a+b&input=1&output=true&error=0&tty=false");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->ns, "default");
  EXPECT_EQ(r->pod, "web");
  EXPECT_EQ(r->container, "c");
  EXPECT_EQ(r->command, (std::vector<std::string>{"sh", "-c", "echo a b"}));
  EXPECT_TRUE(r->stdin);
  EXPECT_TRUE(r->stdout);
  EXPECT_FALSE(r->stderr);
  EXPECT_FALSE(r->tty);
  auto tty = runtime::parse_exec_request("/exec/a/b/c?command=sh&input=1&output=1&error=1&tty=1");
  ASSERT_TRUE(tty);
  EXPECT_FALSE(tty->stderr) << "a terminal has one output stream";
}

TEST(ExecRequest, Refusals) {
  struct Case {
    const char* target;
    int status;
    const char* message;
  } cases[] = {
      {"/exec/default/web/c?output=1", 400, "you must specify at least 1 command"},
      {"/exec/default/web/c?command=ls", 400, "you must specify at least 1 of stdin, stdout, stderr"},
      {"/exec/default/web?command=ls&output=1", 404, "expected /exec/<namespace>/<pod>/<container>"},
      {"/exec/default/web/c/x?command=ls&output=1", 404, "expected /exec/<namespace>/<pod>/<container>"},
      {"/exec/default/../c?command=ls&output=1", 400, "invalid pod name"},
      {"/exec/default/web/C?command=ls&output=1", 400, "invalid container name"},
      {"/exec/default/web/c?command=%zz&output=1", 400, "invalid percent-encoding in the query"},
      {"/exec/default/web/c?command=a%00b&output=1", 400, "command: NUL byte in an argument"},
  };
  for (const auto& c : cases) {
    auto r = runtime::parse_exec_request(c.target);
    ASSERT_FALSE(r) << c.target;
    EXPECT_EQ(r.error().status, c.status) << c.target;
    EXPECT_EQ(r.error().message, c.message) << c.target;
  }
}

TEST(ExecStatus, ExitCodeAsKubesRemotecommandWritesIt) {
  EXPECT_EQ(runtime::exit_status_json({"true"}, 0), R"({"metadata":{},"status":"Success"})");
  json::value s = json::parse(runtime::exit_status_json({"sh", "-c", "exit 3"}, 3));
  EXPECT_EQ(s.at("status"), "Failure");
  EXPECT_EQ(s.at("reason"), "NonZeroExitCode");
  EXPECT_EQ(s.at("message"),
            "command terminated with non-zero exit code: command 'sh -c exit 3' exited with 3");
  EXPECT_EQ(s.at("details").at("causes").at(0).at("reason"), "ExitCode");
  EXPECT_EQ(s.at("details").at("causes").at(0).at("message"), "3");
}

TEST(ExecQuery, RepeatedCommandsAndKubeBooleans) {
  auto q = apiserver::parse_exec_query(
      "/api/v1/namespaces/default/pods/web/exec?command=ip&command=-4&command=addr&container=c&stdin=true&"
      "stdout=1&stderr=False&tty=");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->command, (std::vector<std::string>{"ip", "-4", "addr"}));
  EXPECT_EQ(q->container, "c");
  EXPECT_TRUE(q->stdin);
  EXPECT_TRUE(q->stdout);
  EXPECT_FALSE(q->stderr);
  EXPECT_TRUE(q->tty) << "an empty value is true, as kube's boolean conversion";
  EXPECT_FALSE(apiserver::parse_exec_query("/x?command=%4"));
}

TEST(ExecProtocol, TheClientsFirstServedChoice) {
  EXPECT_EQ(apiserver::choose_stream_protocol("v5.channel.k8s.io, v4.channel.k8s.io"), "v5.channel.k8s.io");
  EXPECT_EQ(apiserver::choose_stream_protocol("v4.channel.k8s.io"), "v4.channel.k8s.io");
  EXPECT_EQ(apiserver::choose_stream_protocol("base64.channel.k8s.io,v4.channel.k8s.io"),
            "v4.channel.k8s.io");
  EXPECT_EQ(apiserver::choose_stream_protocol("channel.k8s.io"), "");
  EXPECT_EQ(apiserver::choose_stream_protocol(""), "");
}

}  // namespace
}  // namespace podnet
