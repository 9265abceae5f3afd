// The DNS server through real sockets in a network namespace of its own: dig (dnsutils) as the
// client, unbound as the upstream resolver, raw sockets for malformed packets and spoofed replies.
#include "dns/server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "dns_test_util.h"
#include "support/process.h"
#include "support/scoped_netns.h"
#include "support/temp_dir.h"

namespace podnet::dns {
namespace {

using namespace dnstest;
using podnet::testing::ScopedNetns;

// A server running on its own thread (in the test's namespace: upstream sockets are made there)
// until the end of the scope.
struct Running {
  std::unique_ptr<Server> server;
  std::thread thread;
  Running(std::unique_ptr<Server> s, const netlink::NetNs& ns)
      : server(std::move(s)), thread([this, &ns] {
          (void)ns.run([this]() -> Status {
            server->run();
            return {};
          });
        }) {}
  ~Running() {
    server->stop();
    thread.join();
  }
  uint16_t port() const { return server->addresses().at(0).port; }
};

class DnsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (podnet::testing::shell("command -v dig").rc != 0) GTEST_SKIP() << "needs dig (dnsutils)";
    ns_ = std::make_unique<ScopedNetns>();
  }
  void TearDown() override {
    if (unbound_ > 0) {
      ::kill(unbound_, SIGTERM);
      ::waitpid(unbound_, nullptr, 0);
    }
  }

  std::unique_ptr<Running> start(ServerOptions o) {
    auto s = ns_->netns().run([&] { return Server::create(store_, metrics_, o); });
    if (!s) {
      ADD_FAILURE() << s.error().message();
      return nullptr;
    }
    return std::make_unique<Running>(std::move(*s), ns_->netns());
  }
  std::unique_ptr<Running> start_local() {
    ServerOptions o;
    o.listen = {{*parse_ip("127.0.0.1"), 0}};
    return start(o);
  }

  std::string dig(uint16_t port, const std::string& args, const std::string& server = "127.0.0.1") {
    return ns_->output("dig @" + server + " -p " + std::to_string(port) + " +time=2 +tries=1 " + args);
  }

  // unbound on 127.0.0.2:53 in the test's namespace, serving example.org as local data.
  void start_unbound() {
    if (podnet::testing::shell("command -v unbound").rc != 0) GTEST_SKIP() << "needs unbound";
    std::string conf = dir_.path() + "/unbound.conf";
    std::ofstream(conf)
        << "server:\n  interface: 127.0.0.2\n  port: 53\n  do-daemonize: no\n  username: \"\"\n"
           "  chroot: \"\"\n  directory: \""
        << dir_.path()
        << "\"\n  pidfile: \"\"\n  use-syslog: no\n  num-threads: 1\n  do-ip6: no\n"
           "  access-control: 127.0.0.0/8 allow\n  module-config: \"iterator\"\n"
           "  local-zone: \"example.org.\" static\n"
           "  local-data: \"example.org. 3600 IN SOA ns.example.org. h.example.org. 1 3600 600 86400 "
           "60\"\n"
           "  local-data: \"www.example.org. 300 IN A 192.0.2.80\"\n";
    // big.example.org: 100 addresses, more than fits a UDP answer (unbound sets TC).
    for (int i = 1; i <= 100; ++i)
      std::ofstream(conf, std::ios::app)
          << "  local-data: \"big.example.org. 300 IN A 198.18.0." << i << "\"\n";
    std::ofstream(conf, std::ios::app) << "remote-control:\n  control-enable: no\n";
    unbound_ = podnet::testing::spawn_logged(
        {"/usr/bin/ip", "netns", "exec", ns_->name(), "/usr/sbin/unbound", "-d", "-c", conf},
        dir_.path() + "/unbound.log");
    for (int i = 0; i < 100; ++i) {
      if (ns_->output("dig @127.0.0.2 +time=1 +tries=1 +short www.example.org").find("192.0.2.80") !=
          std::string::npos)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "unbound did not start";
  }

  // A server on 127.0.0.1 forwarding to start_unbound()'s unbound.
  std::unique_ptr<Running> start_forwarding_to_unbound() {
    start_unbound();
    if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return nullptr;
    ServerOptions o;
    o.listen = {{*parse_ip("127.0.0.1"), 0}};
    o.upstreams = {{*parse_ip("127.0.0.2"), 53}};
    return start(o);
  }

  RecordStore store_;
  DnsMetrics metrics_;
  std::unique_ptr<ScopedNetns> ns_;
  podnet::testing::TempDir dir_{"pn-dns-test"};
  pid_t unbound_ = -1;
};

TEST_F(DnsServerTest, DigGetsServiceRecordsOverUdpAndTcp) {
  store_.upsert_service(service("shop", "web", {"10.96.0.20"}, {port("http", k8s::Protocol::kTcp, 80)}));
  auto r = start_local();
  ASSERT_TRUE(r);
  EXPECT_EQ(dig(r->port(), "+short web.shop.svc.cluster.local"), "10.96.0.20\n");
  EXPECT_EQ(dig(r->port(), "+short +tcp web.shop.svc.cluster.local"), "10.96.0.20\n");
  EXPECT_EQ(dig(r->port(), "+short SRV _http._tcp.web.shop.svc.cluster.local"),
            "0 100 80 web.shop.svc.cluster.local.\n");
  EXPECT_EQ(dig(r->port(), "+short -x 10.96.0.20"), "web.shop.svc.cluster.local.\n");
  auto nx = dig(r->port(), "nope.shop.svc.cluster.local");
  EXPECT_THAT(nx, ::testing::HasSubstr("status: NXDOMAIN"));
  EXPECT_THAT(nx, ::testing::HasSubstr("flags: qr aa rd ra"));
  EXPECT_THAT(nx, ::testing::ContainsRegex("cluster.local.\\s+5\\s+IN\\s+SOA\\s+ns.dns.cluster.local."));
  auto nodata = dig(r->port(), "AAAA web.shop.svc.cluster.local");
  EXPECT_THAT(nodata, ::testing::HasSubstr("status: NOERROR"));
  EXPECT_THAT(nodata, ::testing::HasSubstr("ANSWER: 0, AUTHORITY: 1"));
  EXPECT_THAT(dig(r->port(), "+edns=0 web.shop.svc.cluster.local"), ::testing::HasSubstr("EDNS: version: 0"));
  // Incremental: a new service answers at once.
  store_.upsert_service(service("shop", "api", {"10.96.0.21"}));
  EXPECT_EQ(dig(r->port(), "+short api.shop.svc.cluster.local"), "10.96.0.21\n");
  EXPECT_GE(metrics_.requests(), 8u);
  EXPECT_THAT(metrics_.prometheus_text(), ::testing::HasSubstr("rcode=\"NXDOMAIN\",plugin=\"\"} 1"));
}

TEST_F(DnsServerTest, LargeHeadlessAnswerTruncatesOverUdpAndDigRetriesOverTcp) {
  store_.upsert_service(service("big", "many", {"None"}));
  std::vector<Ep> eps;
  for (int i = 0; i < 100; ++i) eps.push_back({"10.244.9." + std::to_string(i + 1), true, ""});
  store_.upsert_slice(slice("big", "many", "many-1", eps));
  auto r = start_local();
  ASSERT_TRUE(r);
  auto udp = dig(r->port(), "+ignore +noedns many.big.svc.cluster.local");
  EXPECT_THAT(udp, ::testing::HasSubstr("flags: qr aa tc rd ra"));
  auto full = dig(r->port(), "+short many.big.svc.cluster.local");  // dig retries over TCP on TC
  EXPECT_EQ(std::count(full.begin(), full.end(), '\n'), 100);
}

TEST_F(DnsServerTest, MalformedPacketsNeverStopTheServer) {
  store_.upsert_service(service("shop", "web", {"10.96.0.20"}));
  auto r = start_local();
  ASSERT_TRUE(r);
  uint16_t port = r->port();
  auto sent = ns_->netns().run([&]() -> Result<int> {
    int u = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<std::vector<uint8_t>> bad = {
        {},
        {1, 2, 3},
        {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1},   // pointer loop
        {0x12, 0x34, 0x01, 0x00, 0, 9, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1},  // 9 questions
        {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 64, 'a'},                // oversized label
        std::vector<uint8_t>(1500, 0xff),
    };
    for (const auto& b : bad) ::sendto(u, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    // A 64 KiB message and a half message over TCP.
    int t = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(t, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
      std::vector<uint8_t> big(65537, 0);
      big[0] = 0xff;
      big[1] = 0xff;
      big[2 + 5] = 1;
      (void)!::send(t, big.data(), big.size(), MSG_NOSIGNAL);
      uint8_t half[] = {0, 40, 1, 2};
      (void)!::send(t, half, sizeof half, MSG_NOSIGNAL);
    }
    ::close(t);
    ::close(u);
    return 0;
  });
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 0);
  // The FORMERR answers are real answers, and the server still serves.
  auto formerr = dig(port, "+short web.shop.svc.cluster.local");
  EXPECT_EQ(formerr, "10.96.0.20\n");
  EXPECT_GE(metrics_.responses(KNOT_RCODE_FORMERR), 2u);
}

TEST_F(DnsServerTest, ForwardsOtherNamesThroughTheCache) {
  auto r = start_forwarding_to_unbound();
  if (!r) return;  // skipped (no unbound), or start_unbound()/start() reported the failure
  EXPECT_EQ(dig(r->port(), "+short www.example.org"), "192.0.2.80\n");
  EXPECT_EQ(dig(r->port(), "+short WWW.example.org"), "192.0.2.80\n");  // from the cache
  EXPECT_GE(metrics_.cache_hits(), 1u);
  auto nx = dig(r->port(), "nothing.example.org");
  EXPECT_THAT(nx, ::testing::HasSubstr("status: NXDOMAIN"));
  EXPECT_THAT(dig(r->port(), "nothing.example.org"), ::testing::HasSubstr("status: NXDOMAIN"));
  EXPECT_GE(metrics_.cache_hits(), 2u);  // the denial was cached too
  EXPECT_THAT(dig(r->port(), "+tcp www.example.org"), ::testing::HasSubstr("192.0.2.80"));
  // The cluster zone is never forwarded.
  EXPECT_THAT(dig(r->port(), "x.cluster.local"), ::testing::HasSubstr("status: NXDOMAIN"));
}

TEST_F(DnsServerTest, TruncatedUpstreamAnswersAreFetchedOverTcpForTcpClientsAndNotCached) {
  auto r = start_forwarding_to_unbound();
  if (!r) return;  // skipped (no unbound), or start_unbound()/start() reported the failure
  auto count_a = [](const std::string& out) {
    size_t n = 0;
    for (size_t p = out.find("198.18.0."); p != std::string::npos; p = out.find("198.18.0.", p + 1)) ++n;
    return n;
  };
  // A UDP client that does not retry gets the truncated answer, flagged TC.
  auto udp = dig(r->port(), "+ignore +bufsize=1232 big.example.org");
  EXPECT_THAT(udp, ::testing::HasSubstr(" tc"));
  EXPECT_LT(count_a(udp), 100u) << udp;
  // A TCP client gets all 100: the server asked the upstream again over TCP (the truncated UDP
  // answer was not cached, or this would be it again).
  auto tcp = dig(r->port(), "+tcp +short big.example.org");
  EXPECT_EQ(count_a(tcp), 100u) << tcp;
  // And a UDP client that retries over TCP, as resolvers do, ends with all 100 as well.
  EXPECT_EQ(count_a(dig(r->port(), "+short big.example.org")), 100u);
}

TEST_F(DnsServerTest, RepliesWithAWrongIdOrQuestionAreDropped) {
  // A fake upstream on 127.0.0.4:53 that answers each query three times: wrong ID, wrong
  // question, then right.
  auto made = ns_->netns().run([]() -> Result<int> {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(53);
    a.sin_addr.s_addr = inet_addr("127.0.0.4");
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  });
  ASSERT_TRUE(made);
  int up = *made;
  ASSERT_GE(up, 0);
  std::thread fake([up] {
    uint8_t buf[512];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n;
    do {  // the server's loop probe (HINFO) first: not answered
      len = sizeof from;
      n = ::recvfrom(up, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    } while (n >= 16 && buf[n - 3] != KNOT_RRTYPE_A);
    if (n < 12) return;
    std::vector<uint8_t> q(buf, buf + n);
    auto reply = [&](std::vector<uint8_t> m) {
      ::sendto(up, m.data(), m.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    };
    std::vector<uint8_t> ok = q;
    ok[2] |= 0x80;
    ok[7] = 1;  // one answer: www.example.org A 198.51.100.7, owner as a pointer to the question
    for (uint8_t b : {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7}) ok.push_back(b);
    ok[11] = 0;  // no OPT
    auto wrong_id = ok;
    wrong_id[0] ^= 0xff;
    auto wrong_q = ok;
    wrong_q[13] ^= 0x01;  // a different first letter
    reply(wrong_id);
    reply(wrong_q);
    reply(ok);
  });
  ServerOptions o;
  o.listen = {{*parse_ip("127.0.0.1"), 0}};
  o.upstreams = {{*parse_ip("127.0.0.4"), 53}};
  auto r = start(o);
  ASSERT_TRUE(r);
  EXPECT_EQ(dig(r->port(), "+short +noedns www.example.org"), "198.51.100.7\n");
  fake.join();
  ::close(up);
  EXPECT_EQ(metrics_.spoofed(), 2u);
}

TEST_F(DnsServerTest, AForwardingLoopIsCutAndCounted) {
  // Two servers that forward to each other (a node whose resolv.conf points at its own DNS).
  ServerOptions a, b;
  a.listen = {{*parse_ip("127.0.0.5"), 53}};
  a.upstreams = {{*parse_ip("127.0.0.6"), 53}};
  b.listen = {{*parse_ip("127.0.0.6"), 53}};
  b.upstreams = {{*parse_ip("127.0.0.5"), 53}};
  auto ra = start(a);
  auto rb = start(b);
  ASSERT_TRUE(ra && rb);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THAT(dig(53, "www.example.org", "127.0.0.5"), ::testing::HasSubstr("status: SERVFAIL"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_GE(metrics_.loops(), 1u);
  // The start-up probe finds the loop too (it went round as soon as both servers were up), and
  // every forwarded name then fails at once instead of circling.
  EXPECT_THAT(dig(53, "other.example.org", "127.0.0.6"), ::testing::HasSubstr("status: SERVFAIL"));
  // An upstream that is the server itself is refused outright.
  ServerOptions self;
  self.listen = {{*parse_ip("127.0.0.7"), 53}};
  self.upstreams = self.listen;
  EXPECT_FALSE(ns_->netns().run([&] { return Server::create(store_, metrics_, self); }));
}

}  // namespace
}  // namespace podnet::dns
