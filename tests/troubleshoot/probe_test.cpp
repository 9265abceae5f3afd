// The check's probe and server over real sockets on 127.0.0.1: answers name the server and the
// client's address, refusals and silence are failures with reasons, "!" targets pass when refused,
// result lines survive the trip through a log and garbage in a log is skipped.
#include "troubleshoot/probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace podnet::troubleshoot {
namespace {

using namespace std::chrono_literals;

class Server {
 public:
  explicit Server(const std::string& name) {
    thread_ = std::thread([this, name] {
      auto st = serve(name, "127.0.0.1", {0}, stop_, [this](uint16_t p) { port_.store(p); });
      if (!st) port_.store(0);
    });
    while (port_.load() < 0) std::this_thread::sleep_for(1ms);
  }
  ~Server() {
    stop_.store(true);
    thread_.join();
  }
  uint16_t port() const { return static_cast<uint16_t>(port_.load()); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> port_{-1};
  std::thread thread_;
};

// A port nothing listens on (bound, never listening: connect is refused).
uint16_t closed_port(int& keep) {
  keep = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(keep, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  ::getsockname(keep, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

TEST(ProbeTarget, ParsesAndRefuses) {
  auto t = parse_target("pod:node1=10.244.1.5:8080");
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->key, "pod:node1");
  EXPECT_EQ(t->host, "10.244.1.5");
  EXPECT_EQ(t->port, 8080);
  EXPECT_FALSE(t->resolve);
  EXPECT_FALSE(t->expect_fail);
  EXPECT_EQ(format_target(*t), "pod:node1=10.244.1.5:8080");
  t = parse_target("dns=dns:cip.ns.svc.cluster.local:80");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->resolve);
  EXPECT_EQ(t->host, "cip.ns.svc.cluster.local");
  t = parse_target("deny=10.0.0.1:8081!");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->expect_fail);
  EXPECT_EQ(format_target(*t), "deny=10.0.0.1:8081!");
  for (const char* bad : {"", "=1.2.3.4:80", "k=1.2.3.4", "k=1.2.3.4:0", "k=1.2.3.4:65536", "k=1.2.3.4:8x",
                          "k=host:80", "k=:80", "k=1.2.3.4:-1"})
    EXPECT_FALSE(parse_target(bad)) << bad;
}

TEST(Probe, AnswerNamesServerAndClientAddress) {
  Server s("srv-a");
  ProbeTarget t{"k", "127.0.0.1", s.port()};
  auto r = probe(t, {});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.answer, "srv-a 127.0.0.1");
  EXPECT_EQ(r.address, "127.0.0.1");
  EXPECT_EQ(r.attempts, 1);
  EXPECT_GT(r.latency_us, 0);
  EXPECT_LT(r.latency_us, 1'000'000);
}

TEST(Probe, RefusedIsAFailureWithReasonAfterRetries) {
  int keep = -1;
  uint16_t port = closed_port(keep);
  ProbeTiming timing{300ms, 100ms, 50ms};
  auto r = probe({"k", "127.0.0.1", port}, timing);
  ::close(keep);
  EXPECT_FALSE(r.ok);
  EXPECT_GE(r.attempts, 2);
  EXPECT_NE(r.error.find("refused"), std::string::npos) << r.error;
  // Expected to fail: the first refusal is the pass.
  r = probe({"k", "127.0.0.1", port, false, true}, timing);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.attempts, 1);
}

TEST(Probe, ExpectedFailureRetriesWhileItIsAnswered) {
  Server s("open");
  auto start = std::chrono::steady_clock::now();
  auto r = probe({"deny", "127.0.0.1", s.port(), false, true}, {400ms, 100ms, 50ms});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.answer, "open 127.0.0.1");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
}

TEST(Probe, UnresolvableNameFails) {
  auto r = probe({"dns", "no-such-name.invalid", 80, true}, {200ms, 100ms, 50ms});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("resolve no-such-name.invalid"), std::string::npos) << r.error;
}

TEST(ProbeResults, RoundTripThroughALogWithGarbage) {
  ProbeResult a{"pod:node1", true, "srv-node1 10.244.0.5", "10.244.0.9", 412, 1, ""};
  ProbeResult b{"cip:0", false, "", "10.96.0.20", 1000000, 6, "connect: timed out (dropped?)"};
  std::string log = "starting\n" + to_json_line(a) + "\n{\"key\":1}\n[]\n" + to_json_line(b) +
                    "\n{bad json\n" + std::string(5000, 'x') + "\n";
  auto rs = parse_results(log);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].key, "pod:node1");
  EXPECT_TRUE(rs[0].ok);
  EXPECT_EQ(rs[0].answer, a.answer);
  EXPECT_EQ(rs[0].latency_us, 412);
  EXPECT_EQ(rs[1].error, b.error);
  EXPECT_EQ(rs[1].attempts, 6);
  EXPECT_FALSE(parse_result_line(
      R"({"key":"k","ok":true,"answer":"","address":"","latencyUs":-5,"attempts":1,"error":""})"));
  EXPECT_EQ(parse_results(log, 1).size(), 1u);
}

}  // namespace
}  // namespace podnet::troubleshoot
