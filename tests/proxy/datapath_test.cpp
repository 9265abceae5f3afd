// The proxy's datapath, as root, in namespaces this test makes: a client, backends and an outside
// host around a node namespace that routes between them and runs the proxy's nftables tables.
//
//   client 10.100.0.2 --- node 10.100.0.1 | 10.101.<i>.1 --- backend<i> 10.101.<i>.2 (socat :8080)
//   outside 192.168.50.2 --- node 192.168.50.1 (NodePorts)
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <set>
#include <thread>

#include "proxy/builders.h"
#include "proxy/conntrack_events.h"
#include "proxy/kernel.h"
#include "proxy/proxier.h"
#include "support/scoped_netns.h"

namespace podnet::proxy {
namespace {

using namespace testing;
using podnet::testing::ScopedNetns;
using podnet::testing::unique_ifname;

// A process this test started (in a namespace), killed by its PID when the test ends.
class Background {
 public:
  explicit Background(std::vector<std::string> argv) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }

 private:
  pid_t pid_ = -1;
};

constexpr int kBackends = 3;
constexpr const char* kClusterIp = "10.96.0.10";

class ProxyDatapath : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    node_ = std::make_unique<ScopedNetns>();
    client_ = std::make_unique<ScopedNetns>();
    outside_ = std::make_unique<ScopedNetns>();
    for (int i = 0; i < kBackends; ++i) backends_.push_back(std::make_unique<ScopedNetns>());
    // Without DAD, IPv6 neighbours answer at once instead of after the link-local address's DAD.
    for (const ScopedNetns* ns :
         std::vector<const ScopedNetns*>{node_.get(), client_.get(), outside_.get(), backends_[0].get(),
                                         backends_[1].get(), backends_[2].get()})
      ASSERT_EQ(ns->sh("sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0"), 0);
    link(*client_, "10.100.0", "fd10:100:", "c");
    link(*outside_, "192.168.50", "fd10:50:", "o");
    for (int i = 0; i < kBackends; ++i) {
      link(*backends_[i], "10.101." + std::to_string(i), "fd10:101:" + std::to_string(i) + ":",
           "b" + std::to_string(i));
      servers_.push_back(std::make_unique<Background>(std::vector<std::string>{
          "ip", "netns", "exec", backends_[i]->name(), "socat", "TCP-LISTEN:8080,fork,reuseaddr",
          "SYSTEM:echo backend" + std::to_string(i) + " $SOCAT_PEERADDR"}));
    }
    ASSERT_EQ(node_->sh("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"), 0);
    // Service IPs need a route on the node, as a default route gives them on a real node: the
    // node's own connections are routed before the output hook translates them.
    // (A veth pair stands in for a dummy link, whose module this kernel may lack.)
    const std::string sink = unique_ifname("s"), sink_peer = unique_ifname("sp");
    ASSERT_EQ(node_->sh("ip link add " + sink + " type veth peer name " + sink_peer + " && ip link set " +
                        sink + " up && ip link set " + sink_peer + " up && ip route add 10.96.0.0/12 dev " +
                        sink + " && ip -6 route add fd00:96::/64 dev " + sink),
              0);
    // The outside host only knows its own subnet: replies reach it only when masqueraded or
    // sent from the node's address.
    auto kernel = node_->netns().run([&] { return NftProxyKernel::open(RulesetConfig{}); });
    ASSERT_TRUE(kernel) << kernel.error().message();
    kernel_ = std::make_unique<NftProxyKernel>(std::move(*kernel));
    auto conntrack = node_->netns().run([&] { return NetlinkConntrack::open(); });
    ASSERT_TRUE(conntrack) << conntrack.error().message();
    conntrack_ = std::make_unique<NetlinkConntrack>(std::move(*conntrack));
    proxier_ = std::make_unique<Proxier>(
        *kernel_,
        ProxierOptions{{"node-a", {ip("192.168.50.1")}}, RulesetConfig{}, std::chrono::milliseconds(0)},
        conntrack_.get());
    for (int i = 0; i < kBackends; ++i)
      ASSERT_TRUE(wait_for(*backends_[i], "ss -ltn | grep -q :8080")) << "backend " << i << " not listening";
  }

  // A veth between `ns` (eth <prefix>.2, default route via the node) and the node (<prefix>.1).
  // Same with IPv6 <prefix6>:2/64 and <prefix6>:1 (nodad: usable at once).
  void link(const ScopedNetns& ns, const std::string& prefix, const std::string& prefix6,
            const std::string& tag) {
    std::string inner = unique_ifname(tag), outer = unique_ifname("n" + tag);
    ASSERT_EQ(ns.sh("ip link add " + inner + " type veth peer name " + outer + " netns " + node_->name()), 0);
    ASSERT_EQ(
        ns.sh("ip addr add " + prefix + ".2/24 dev " + inner + " && ip -6 addr add " + prefix6 +
              ":2/64 dev " + inner + " nodad && ip link set " + inner + " up && ip route add default via " +
              prefix + ".1 && ip -6 route add default via " + prefix6 + ":1"),
        0);
    ASSERT_EQ(node_->sh("ip addr add " + prefix + ".1/24 dev " + outer + " && ip -6 addr add " + prefix6 +
                        ":1/64 dev " + outer + " nodad && ip link set " + outer + " up"),
              0);
  }

  static bool wait_for(const ScopedNetns& ns, const std::string& cmd) {
    for (int i = 0; i < 50; ++i) {
      if (ns.sh(cmd) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // What the server at host:port answered: "backend1 <client address it saw>", or socat's complaint.
  static std::string ask_full(const ScopedNetns& from, const std::string& host, int port) {
    std::string out = from.output("timeout 5 socat -t2 - TCP:" + host + ":" + std::to_string(port) +
                                  ",connect-timeout=2 </dev/null");
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // Only which backend answered ("backend1").
  static std::string ask(const ScopedNetns& from, const std::string& host, int port) {
    std::string out = ask_full(from, host, port);
    return out.rfind("backend", 0) == 0 ? out.substr(0, out.find(' ')) : out;
  }

  k8s::EndpointSlice web_slice(std::initializer_list<int> backends) {
    std::vector<std::string> addrs;
    for (int i : backends) addrs.push_back("10.101." + std::to_string(i) + ".2");
    auto s = slice("web", {}, {slice_port("http", 8080)});
    for (const auto& a : addrs) {
      k8s::Endpoint ep;
      ep.addresses = {a};
      ep.node_name = "node-a";
      s.endpoints.push_back(ep);
    }
    return s;
  }

  void sync() {
    auto r = node_->netns().run([&] { return proxier_->sync(Proxier::Clock::now()); });
    ASSERT_TRUE(r) << r.error().message();
  }

  std::unique_ptr<ScopedNetns> node_, client_, outside_;  // made in SetUp, after the root check
  std::vector<std::unique_ptr<ScopedNetns>> backends_;
  std::vector<std::unique_ptr<Background>> servers_;
  std::unique_ptr<NftProxyKernel> kernel_;
  std::unique_ptr<NetlinkConntrack> conntrack_;
  std::unique_ptr<Proxier> proxier_;
};

TEST_F(ProxyDatapath, EachBackendReachedThroughClusterIp) {
  proxier_->upsert_service(cluster_ip_service("web", kClusterIp, {tcp_port("http", 80, 8080)}));
  proxier_->upsert_slice(web_slice({0, 1, 2}));
  sync();
  std::set<std::string> seen;
  for (int i = 0; i < 40 && seen.size() < 3; ++i) seen.insert(ask(*client_, kClusterIp, 80));
  EXPECT_EQ(seen, (std::set<std::string>{"backend0", "backend1", "backend2"}));
}

// The flow log's source for connections through the stack: conntrack events of the node's
// namespace show the ClusterIP (original tuple) and the endpoint the proxy chose (reply tuple),
// and DESTROY carries the counters once accounting is on.
TEST_F(ProxyDatapath, ConntrackEventsShowTheClusterIpAndTheChosenEndpoint) {
  ASSERT_EQ(node_->sh("sysctl -qw net.netfilter.nf_conntrack_acct=1"), 0);
  auto events = node_->netns().run([] { return ConntrackEvents::open(); });
  ASSERT_TRUE(events) << events.error().message();
  proxier_->upsert_service(cluster_ip_service("web", kClusterIp, {tcp_port("http", 80, 8080)}));
  proxier_->upsert_slice(web_slice({1}));
  sync();
  ASSERT_EQ(ask(*client_, kClusterIp, 80), "backend1");
  std::vector<ConntrackEvent> seen;
  std::function<void(const ConntrackEvent&)> keep = [&](const ConntrackEvent& e) {
    if (e.original.dst == ip(kClusterIp) && e.original.dport == 80) seen.push_back(e);
  };
  auto read_until = [&](bool destroyed) {
    for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
         std::chrono::steady_clock::now() < end;) {
      for (const auto& e : seen)
        if (e.destroyed == destroyed) return true;
      pollfd p{.fd = events->fd(), .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 100) > 0) {
        auto r = events->read(keep);
        EXPECT_TRUE(r) << r.error().message();
      }
    }
    return false;
  };
  ASSERT_TRUE(read_until(false)) << "no NEW event for the ClusterIP";
  const ConntrackEvent& opened = seen.front();
  EXPECT_FALSE(opened.destroyed);
  EXPECT_EQ(opened.proto, 6);
  EXPECT_EQ(opened.original.src, ip("10.100.0.2"));
  EXPECT_EQ(opened.reply.src, ip("10.101.1.2"));  // DNAT: the endpoint answers
  EXPECT_EQ(opened.reply.sport, 8080);
  EXPECT_EQ(opened.reply.dst, ip("10.100.0.2"));  // no SNAT
  EXPECT_EQ(opened.reply.dport, opened.original.sport);
  // The entry is in TIME_WAIT for two minutes: delete it, as the proxy's cleanup does.
  auto cleared = node_->netns().run([&] {
    return conntrack_->clear(std::vector<StaleFlow>{{Frontend{Ip::from(ip(kClusterIp)), 6, 80}, {}}});
  });
  ASSERT_TRUE(cleared) << cleared.error().message();
  ASSERT_TRUE(read_until(true)) << "no DESTROY event";
  const ConntrackEvent& closed = seen.back();
  EXPECT_TRUE(closed.destroyed);
  EXPECT_EQ(closed.reply.src, ip("10.101.1.2"));
  EXPECT_GE(closed.packets, 3u);  // SYN, ACK, FIN at least
  EXPECT_GE(closed.reply_packets, 2u);
  EXPECT_GT(closed.reply_bytes, closed.reply_packets * 40);  // headers and "backend1 ..."
  EXPECT_EQ(events->overruns(), 0u);
}

TEST_F(ProxyDatapath, RemovedEndpointGetsNoNewConnections) {
  proxier_->upsert_service(cluster_ip_service("web", kClusterIp, {tcp_port("http", 80, 8080)}));
  proxier_->upsert_slice(web_slice({0, 1, 2}));
  sync();
  proxier_->upsert_slice(web_slice({1, 2}));
  sync();
  EXPECT_EQ(proxier_->metrics().partial_syncs, 1u);
  std::set<std::string> seen;
  for (int i = 0; i < 30; ++i) seen.insert(ask(*client_, kClusterIp, 80));
  EXPECT_EQ(seen, (std::set<std::string>{"backend1", "backend2"}));
}

TEST_F(ProxyDatapath, ServiceWithoutEndpointsIsRefusedAtOnce) {
  proxier_->upsert_service(cluster_ip_service("web", kClusterIp, {tcp_port("http", 80, 8080)}));
  sync();
  auto start = std::chrono::steady_clock::now();
  std::string answer = ask(*client_, kClusterIp, 80);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_NE(answer.find("Connection refused"), std::string::npos) << answer;
  EXPECT_LT(took, std::chrono::seconds(1));
  // And from the node itself (the output hook).
  EXPECT_NE(ask(*node_, kClusterIp, 80).find("Connection refused"), std::string::npos);
}

TEST_F(ProxyDatapath, NodePortFromOutside) {
  auto svc = cluster_ip_service("web", kClusterIp, {tcp_port("http", 80, 8080, 30080)});
  svc.type = k8s::ServiceType::kNodePort;
  proxier_->upsert_service(svc);
  proxier_->upsert_slice(web_slice({0, 1, 2}));
  sync();
  std::set<std::string> seen;
  for (int i = 0; i < 40 && seen.size() < 3; ++i) seen.insert(ask(*outside_, "192.168.50.1", 30080));
  EXPECT_EQ(seen, (std::set<std::string>{"backend0", "backend1", "backend2"}));
  // Policy Cluster: the backend sees the node (masquerade), so replies return through it.
  std::string answer = ask_full(*outside_, "192.168.50.1", 30080);
  EXPECT_NE(answer.find(" 10.101."), std::string::npos) << answer;
}

TEST_F(ProxyDatapath, NodePortWithLocalPolicyKeepsClientAddress) {
  auto svc = cluster_ip_service("web", kClusterIp, {tcp_port("http", 80, 8080, 30080)});
  svc.type = k8s::ServiceType::kNodePort;
  svc.external_traffic_policy = k8s::TrafficPolicy::kLocal;
  proxier_->upsert_service(svc);
  proxier_->upsert_slice(web_slice({1}));
  sync();
  EXPECT_EQ(ask_full(*outside_, "192.168.50.1", 30080), "backend1 192.168.50.2");
  // ClusterIP traffic from a pod is never masqueraded either.
  EXPECT_EQ(ask_full(*client_, kClusterIp, 80), "backend1 10.100.0.2");
}

TEST_F(ProxyDatapath, SessionAffinitySticks) {
  auto svc = cluster_ip_service("web", kClusterIp, {tcp_port("http", 80, 8080)});
  svc.affinity_client_ip = true;
  svc.affinity_timeout_seconds = 60;
  proxier_->upsert_service(svc);
  proxier_->upsert_slice(web_slice({0, 1, 2}));
  sync();
  std::string first = ask(*client_, kClusterIp, 80);
  ASSERT_EQ(first.rfind("backend", 0), 0u) << first;
  for (int i = 0; i < 15; ++i) EXPECT_EQ(ask(*client_, kClusterIp, 80), first);
}

TEST_F(ProxyDatapath, UdpThroughClusterIp) {
  std::vector<std::unique_ptr<Background>> udp;
  for (int i = 0; i < kBackends; ++i)
    udp.push_back(std::make_unique<Background>(std::vector<std::string>{
        "ip", "netns", "exec", backends_[i]->name(), "socat", "UDP4-LISTEN:5353,fork,reuseaddr",
        "SYSTEM:echo backend" + std::to_string(i)}));
  auto svc = cluster_ip_service("dns", "10.96.0.53", {});
  svc.ports = {{"dns", k8s::Protocol::kUdp, 53, int32_t{5353}, 0}};
  proxier_->upsert_service(svc);
  auto s = slice("dns", {{"10.101.1.2"}, {"10.101.2.2"}}, {slice_port("dns", 5353, k8s::Protocol::kUdp)});
  proxier_->upsert_slice(s);
  sync();
  for (int i = 0; i < kBackends; ++i)
    ASSERT_TRUE(wait_for(*backends_[i], "ss -lun | grep -q :5353")) << "backend " << i << " not listening";
  // UDP is lossy (socat's forking UDP server drops a datagram now and then while it re-binds), so
  // a query without an answer is asked again, as a resolver would; every answer must be right.
  std::set<std::string> seen;
  int unanswered = 0;
  for (int i = 0; i < 40 && seen.size() < 2; ++i) {
    std::string out = client_->output("echo q | timeout 5 socat -t1 - UDP4:10.96.0.53:53");
    out = out.substr(0, out.find('\n'));
    if (out.empty())
      ++unanswered;
    else
      seen.insert(out);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"backend1", "backend2"}));
  EXPECT_LE(unanswered, 5);
}

TEST_F(ProxyDatapath, UdpFlowMovesToANewEndpointAfterItsOldOneIsRemoved) {
  std::vector<std::unique_ptr<Background>> udp;
  for (int i = 1; i < kBackends; ++i)
    udp.push_back(std::make_unique<Background>(std::vector<std::string>{
        "ip", "netns", "exec", backends_[i]->name(), "socat", "UDP4-LISTEN:5353,fork,reuseaddr",
        "SYSTEM:echo backend" + std::to_string(i)}));
  auto svc = cluster_ip_service("dns", "10.96.0.53", {});
  svc.ports = {{"dns", k8s::Protocol::kUdp, 53, int32_t{5353}, 0}};
  proxier_->upsert_service(svc);
  auto port = slice_port("dns", 5353, k8s::Protocol::kUdp);
  proxier_->upsert_slice(slice("dns", {{"10.101.1.2"}}, {port}));
  sync();
  for (int i = 1; i < kBackends; ++i)
    ASSERT_TRUE(wait_for(*backends_[i], "ss -lun | grep -q :5353")) << "backend " << i << " not listening";
  // One flow: the same source port every time, as a resolver's long-lived socket. Its conntrack
  // entry keeps it on the endpoint it was first sent to, whatever the rules say later, until the
  // proxy deletes the entry. Datagrams may be lost (socat re-binding): ask again, as a client would.
  auto ask_flow = [&] {
    for (int i = 0; i < 10; ++i) {
      std::string out = client_->output("echo q | timeout 5 socat -t1 - UDP4:10.96.0.53:53,sourceport=40053");
      out = out.substr(0, out.find('\n'));
      if (!out.empty()) return out;
    }
    return std::string("no answer");
  };
  ASSERT_EQ(ask_flow(), "backend1");
  // backend1 still runs and would still answer: only the deleted entry sends the flow elsewhere.
  proxier_->upsert_slice(slice("dns", {{"10.101.2.2"}}, {port}));
  sync();
  EXPECT_GE(proxier_->metrics().conntrack_deleted, 1u);
  EXPECT_EQ(proxier_->metrics().conntrack_failures, 0u);
  EXPECT_EQ(ask_flow(), "backend2");
  EXPECT_EQ(ask_flow(), "backend2");
}

TEST_F(ProxyDatapath, Ipv6ClusterIp) {
  std::vector<std::unique_ptr<Background>> v6;
  for (int i = 0; i < kBackends; ++i)
    v6.push_back(std::make_unique<Background>(std::vector<std::string>{
        "ip", "netns", "exec", backends_[i]->name(), "socat", "TCP6-LISTEN:8086,fork,reuseaddr",
        "SYSTEM:echo backend" + std::to_string(i)}));
  auto svc = cluster_ip_service("web6", "fd00:96::10", {tcp_port("http", 80, 8086)});
  proxier_->upsert_service(svc);
  proxier_->upsert_slice(slice("web6", {{"fd10:101:0::2"}, {"fd10:101:2::2"}}, {slice_port("http", 8086)},
                               k8s::AddressType::kIPv6));
  sync();
  for (int i = 0; i < kBackends; ++i)
    ASSERT_TRUE(wait_for(*backends_[i], "ss -ltn | grep -q :8086")) << "backend " << i << " not listening";
  // Neighbour discovery done before timing anything: this test is about the proxy, not IPv6 ND.
  for (int i = 0; i < kBackends; ++i)
    ASSERT_TRUE(wait_for(*node_, "ping -6 -c1 -W1 fd10:101:" + std::to_string(i) + "::2"));
  ASSERT_TRUE(wait_for(*client_, "ping -6 -c1 -W1 fd10:100::1"));
  std::set<std::string> seen;
  for (int i = 0; i < 30 && seen.size() < 2; ++i) {
    std::string out =
        client_->output("timeout 5 socat -t2 - TCP6:[fd00:96::10]:80,connect-timeout=2 </dev/null");
    seen.insert(out.substr(0, out.find('\n')));
  }
  EXPECT_EQ(seen, (std::set<std::string>{"backend0", "backend2"}));
  // A partial sync in the ip6 table: the last endpoint leaves, the service now refuses.
  proxier_->upsert_slice(slice("web6", {}, {slice_port("http", 8086)}, k8s::AddressType::kIPv6));
  sync();
  EXPECT_NE(client_->output("timeout 5 socat -t2 - TCP6:[fd00:96::10]:80,connect-timeout=2 </dev/null")
                .find("Connection refused"),
            std::string::npos);
}

TEST_F(ProxyDatapath, RestartedProxyReplacesWhatTheLastOneWrote) {
  auto web = cluster_ip_service("web", kClusterIp, {tcp_port("http", 80, 8080)});
  web.affinity_client_ip = true;  // its chain, svc-n3-aff10800, is made on demand
  proxier_->upsert_service(web);
  proxier_->upsert_slice(web_slice({0, 1, 2}));
  sync();
  ASSERT_NE(node_->output("nft list chains ip").find("svc-n3-aff10800"), std::string::npos);
  // A new process: it knows nothing of the old state; its first sync is full and removes the rest.
  proxier_ = std::make_unique<Proxier>(
      *kernel_,
      ProxierOptions{{"node-a", {ip("192.168.50.1")}}, RulesetConfig{}, std::chrono::milliseconds(0)});
  proxier_->upsert_service(cluster_ip_service("api", "10.96.0.20", {tcp_port("http", 80, 8080)}));
  proxier_->upsert_slice([&] {
    auto s = web_slice({1});
    s.meta.labels[k8s::kServiceNameLabel] = "api";
    s.meta.name = "api-slice";  // a slice name is unique in its namespace
    return s;
  }());
  sync();
  EXPECT_EQ(ask(*client_, "10.96.0.20", 80), "backend1");
  EXPECT_NE(ask(*client_, kClusterIp, 80).rfind("backend", 0), 0u) << "the old service is gone";
  std::string chains = node_->output("nft list chains ip");
  EXPECT_EQ(chains.find("svc-n3-aff10800"), std::string::npos) << chains;
  EXPECT_NE(chains.find("svc-n1 "), std::string::npos) << chains;
}

// The layout follows the shard count of the running proxy: a proxy with another count (or the
// one-table layout of earlier versions) leaves no table of the old layout behind.
TEST_F(ProxyDatapath, ProxyWithAnotherShardCountReplacesTheLayout) {
  auto run_with = [&](uint32_t shards) {
    RulesetConfig cfg;
    cfg.shards = shards;
    auto kernel = node_->netns().run([&] { return NftProxyKernel::open(cfg); });
    ASSERT_TRUE(kernel) << kernel.error().message();
    kernel_ = std::make_unique<NftProxyKernel>(std::move(*kernel));
    proxier_ = std::make_unique<Proxier>(
        *kernel_, ProxierOptions{{"node-a", {ip("192.168.50.1")}}, cfg, std::chrono::milliseconds(0)});
    proxier_->upsert_service(cluster_ip_service("web", kClusterIp, {tcp_port("http", 80, 8080)}));
    proxier_->upsert_slice(web_slice({0}));
    proxier_->upsert_service(cluster_ip_service("api", "10.96.0.20", {tcp_port("http", 80, 8080)}));
    proxier_->upsert_slice([&] {
      auto s = web_slice({1, 2});
      s.meta.labels[k8s::kServiceNameLabel] = "api";
      s.meta.name = "api-slice";  // a slice name is unique in its namespace
      return s;
    }());
    proxier_->upsert_service(cluster_ip_service("db", "10.96.0.30", {tcp_port("pg", 5432, 5432)}));
    sync();
  };
  auto tables = [&] {
    std::string out = node_->output("nft list tables");
    std::set<std::string> names;
    for (size_t at = 0; (at = out.find("table ", at)) != std::string::npos; ++at)
      names.insert(out.substr(at + 6, out.find('\n', at) - at - 6));
    return names;
  };
  run_with(1);
  EXPECT_EQ(tables(), (std::set<std::string>{"ip podnet-proxy", "ip6 podnet-proxy"}));
  EXPECT_EQ(ask(*client_, kClusterIp, 80), "backend0");

  run_with(4);
  std::set<std::string> four = {"ip podnet-proxy", "ip6 podnet-proxy"};
  for (int i = 0; i < 4; ++i)
    for (const char* f : {"ip ", "ip6 "}) four.insert(f + std::string("podnet-proxy-") + std::to_string(i));
  EXPECT_EQ(tables(), four);
  EXPECT_EQ(node_->output("nft list table ip podnet-proxy").find("service-ips"), std::string::npos)
      << "the one-table layout's maps are gone";
  EXPECT_EQ(ask(*client_, kClusterIp, 80), "backend0");
  std::string api = ask(*client_, "10.96.0.20", 80);
  EXPECT_TRUE(api == "backend1" || api == "backend2") << api;
  EXPECT_NE(ask(*client_, "10.96.0.30", 5432).find("Connection refused"), std::string::npos);
  // An endpoint count change in one shard, written by a partial sync.
  proxier_->upsert_slice(web_slice({2}));
  proxier_->upsert_slice([&] {
    auto s = web_slice({1});
    s.meta.labels[k8s::kServiceNameLabel] = "api";
    s.meta.name = "api-slice";  // a slice name is unique in its namespace
    return s;
  }());
  sync();
  EXPECT_EQ(ask(*client_, kClusterIp, 80), "backend2");
  EXPECT_EQ(ask(*client_, "10.96.0.20", 80), "backend1");

  run_with(2);
  EXPECT_EQ(tables().count("ip podnet-proxy-3"), 0u);
  EXPECT_EQ(tables().count("ip6 podnet-proxy-2"), 0u);
  EXPECT_EQ(ask(*client_, kClusterIp, 80), "backend0");

  // `podnet proxy --cleanup`: every table of every layout.
  auto nft = node_->netns().run([] { return nft::Nft::open(); });
  ASSERT_TRUE(nft);
  ASSERT_TRUE(node_->netns().run([&] { return remove_proxy_tables(*nft, RulesetConfig{}); }));
  EXPECT_TRUE(tables().empty()) << node_->output("nft list tables");
}

TEST_F(ProxyDatapath, HairpinPodReachesItselfThroughItsService) {
  proxier_->upsert_service(cluster_ip_service("web", kClusterIp, {tcp_port("http", 80, 8080)}));
  proxier_->upsert_slice(web_slice({0}));
  sync();
  // Masqueraded to the node, or the pod would get its own reply from its own address and drop it.
  EXPECT_EQ(ask_full(*backends_[0], kClusterIp, 80), "backend0 10.101.0.1");
}

}  // namespace
}  // namespace podnet::proxy
