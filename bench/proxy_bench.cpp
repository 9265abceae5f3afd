// Service proxy at scale, in a network namespace it creates (root): full sync of N services x 10
// endpoints, one-endpoint-change latency, connect() latency. Usage: proxy_bench [--shards K] [N...]
// (default 10 1000 10000 100000; PODNET_BENCH_SHARDS=K works as --shards). One namespace per size,
// pn-bench-proxy-<pid>-<N>, removed after its size, on failure and on SIGINT/SIGTERM/SIGHUP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "netlink/netns.h"
#include "proxy/kernel.h"
#include "proxy/proxier.h"
#include "stop_signal.h"

namespace {

using namespace podnet;
using namespace podnet::proxy;
using Clock = std::chrono::steady_clock;

constexpr int kEndpoints = 10;

IpAddress v4(uint32_t n) {
  return boost::asio::ip::address_v4(n);
}

k8s::Service service(int i) {
  k8s::Service s;
  s.meta.name = "svc-" + std::to_string(i);
  s.meta.namespace_ = "bench";
  s.cluster_ips = {v4(((10u << 24) | (96u << 16)) + i)};  // 10.96.0.0/12 and up
  s.ports = {{"http", k8s::Protocol::kTcp, 80, int32_t{8080}, 0}};
  return s;
}

// Endpoint j of service i; `generation` moves one endpoint to a new address.
k8s::EndpointSlice endpoint_slice(int i, int generation = 0) {
  k8s::EndpointSlice s;
  s.meta.name = "svc-" + std::to_string(i) + "-abcde";
  s.meta.namespace_ = "bench";
  s.meta.labels[k8s::kServiceNameLabel] = "svc-" + std::to_string(i);
  s.ports = {{"http", k8s::Protocol::kTcp, 8080}};
  for (int j = 0; j < kEndpoints; ++j) {
    uint32_t n = (11u << 24) + static_cast<uint32_t>(i) * kEndpoints + j;
    if (j == 0 && generation) n = (12u << 24) + static_cast<uint32_t>(generation);
    k8s::Endpoint ep;
    ep.addresses = {v4(n).to_string()};
    // Spread over 5,000 nodes as in a cluster this big: a handful of the endpoints run here.
    ep.node_name = "node-" + std::to_string(n % 5000);
    s.endpoints.push_back(std::move(ep));
  }
  return s;
}

// A Service whose one endpoint is a listener in the benchmark's namespace, to time connects through
// the datapath with everything else loaded.
k8s::Service probe_service() {
  k8s::Service s;
  s.meta.name = "probe";
  s.meta.namespace_ = "bench";
  s.cluster_ips = {v4((10u << 24) | (111u << 16) | 1)};
  s.ports = {{"http", k8s::Protocol::kTcp, 80, int32_t{8080}, 0}};
  return s;
}
k8s::EndpointSlice probe_slice() {
  k8s::EndpointSlice s;
  s.meta.name = "probe-abcde";
  s.meta.namespace_ = "bench";
  s.meta.labels[k8s::kServiceNameLabel] = "probe";
  s.ports = {{"http", k8s::Protocol::kTcp, 8080}};
  k8s::Endpoint ep;
  ep.addresses = {"10.200.0.1"};
  s.endpoints.push_back(ep);
  return s;
}

// Median and 99th percentile of connect() to the probe service, in microseconds.
std::pair<double, double> connect_latency(const netlink::NetNs& ns, const std::string& ns_name) {
  // A link to carry the endpoint address and a route for service IPs (connect() routes before the
  // output hook translates).
  std::string link = "pnbv" + std::to_string(::getpid() % 100000);
  std::string cmd = "ip netns exec " + ns_name + " sh -c 'ip link add " + link + " type veth peer name " +
                    link + "p && ip link set " + link + " up && ip link set " + link +
                    "p up && ip addr add 10.200.0.1/24 dev " + link + " && ip route add 10.96.0.0/12 dev " +
                    link + " && ip link set lo up'";
  if (std::system(cmd.c_str()) != 0) return {-1, -1};
  auto listener = ns.run([]() -> Result<int> {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(8080);
    a.sin_addr.s_addr = htonl((10u << 24) | (200u << 16) | 1);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1024) != 0)
      return fail("listen");
    return fd;
  });
  if (!listener) return {-1, -1};
  std::atomic<bool> stop{false};
  std::thread acceptor([&] {
    while (!stop) {
      int c = ::accept(*listener, nullptr, nullptr);
      if (c >= 0) ::close(c);
    }
  });
  std::vector<double> us;
  for (int i = 0; i < 2000 && !bench::StopSignal::requested(); ++i) {
    auto fd = ns.run([]() -> Result<int> { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(80);
    a.sin_addr.s_addr = htonl((10u << 24) | (111u << 16) | 1);
    auto t = Clock::now();
    int rc = ::connect(*fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    double took = std::chrono::duration<double, std::micro>(Clock::now() - t).count();
    linger l{1, 0};  // RST instead of TIME_WAIT: 2000 connects must not run out of ports
    ::setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(*fd);
    if (rc == 0) us.push_back(took);
  }
  stop = true;
  ::shutdown(*listener, SHUT_RDWR);
  acceptor.join();
  ::close(*listener);
  if (us.size() < 1000) return {-1, -1};
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

long rss_kb() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

int run(int services, const RulesetConfig& ruleset, const netlink::NetNs& ns, const std::string& ns_name) {
  auto kernel = ns.run([&] { return NftProxyKernel::open(ruleset); });
  if (!kernel) {
    std::fprintf(stderr, "open: %s\n", kernel.error().message().c_str());
    return 1;
  }
  ProxierOptions opts{
      {"node-0", {v4((192u << 24) | (168u << 16) | 1)}}, ruleset, std::chrono::milliseconds(0)};
  Proxier proxier(*kernel, opts);
  for (int i = 0; i < services; ++i) {
    proxier.upsert_service(service(i));
    proxier.upsert_slice(endpoint_slice(i));
  }
  proxier.upsert_service(probe_service());
  proxier.upsert_slice(probe_slice());
  long rss_objects = rss_kb();
  auto t0 = Clock::now();
  auto r = ns.run([&] { return proxier.sync(Clock::now()); });
  auto full = Clock::now() - t0;
  if (!r) {
    std::fprintf(stderr, "full sync: %s\n", r.error().message().c_str());
    return 1;
  }
  long rss_after_full = rss_kb();
  if (bench::StopSignal::requested()) return 1;

  // One endpoint of one service moves: what a pod restart looks like to the proxy.
  std::vector<double> changes;
  for (int g = 1; g <= 25 && !bench::StopSignal::requested(); ++g) {
    int victim = (g * 7919) % services;
    proxier.upsert_slice(endpoint_slice(victim, g));
    auto c0 = Clock::now();
    auto s = ns.run([&] { return proxier.sync(Clock::now()); });
    changes.push_back(ms(Clock::now() - c0));
    if (!s) {
      std::fprintf(stderr, "partial sync: %s\n", s.error().message().c_str());
      return 1;
    }
  }
  std::sort(changes.begin(), changes.end());
  const size_t change_ops = proxier.metrics().last_sync_element_ops;
  // A change of endpoint count (one endpoint fewer, then back): the frontend's service-ips verdict
  // changes, which makes the kernel re-validate the verdict maps of the table it is in.
  std::vector<double> count_changes;
  for (int k = 1; k <= 20 && !bench::StopSignal::requested(); ++k) {
    int victim = (k * 104729) % services;
    auto shrunk = endpoint_slice(victim);
    shrunk.endpoints.pop_back();
    for (const auto& slice : {shrunk, endpoint_slice(victim)}) {
      proxier.upsert_slice(slice);
      auto n0 = Clock::now();
      auto s = ns.run([&] { return proxier.sync(Clock::now()); });
      count_changes.push_back(ms(Clock::now() - n0));
      if (!s) {
        std::fprintf(stderr, "endpoint count change: %s\n", s.error().message().c_str());
        return 1;
      }
    }
  }
  std::sort(count_changes.begin(), count_changes.end());
  if (bench::StopSignal::requested()) return 1;
  // A restarted proxy: a new Proxier whose first (full) sync replaces the tables the last one wrote.
  Proxier restarted(*kernel, opts);
  for (int i = 0; i < services; ++i) {
    restarted.upsert_service(service(i));
    restarted.upsert_slice(endpoint_slice(i));
  }
  restarted.upsert_service(probe_service());
  restarted.upsert_slice(probe_slice());
  auto r0 = Clock::now();
  auto rs = ns.run([&] { return restarted.sync(Clock::now()); });
  double restart_ms = ms(Clock::now() - r0);
  if (!rs) {
    std::fprintf(stderr, "restart sync: %s\n", rs.error().message().c_str());
    return 1;
  }
  auto [connect_p50, connect_p99] = connect_latency(ns, ns_name);
  if (bench::StopSignal::requested()) return 1;
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto& m = proxier.metrics();
  std::printf(
      "%8d services %9zu endpoints %2u shards: full sync %8.1f ms (kernel part %8.1f ms), one change p50 "
      "%6.2f ms "
      "max %6.2f ms (%zu element ops), RSS %ld MB (%ld MB before the first sync, peak %ld MB), connect p50 "
      "%.0f us "
      "p99 %.0f us, count change p50 %.2f p95 %.2f ms, restart full sync %.0f ms\n",
      services, m.endpoints, ruleset.shards, ms(full), m.last_full_sync.count() / 1000.0,
      changes[changes.size() / 2], changes.back(), change_ops, rss_after_full / 1024, rss_objects / 1024,
      usage.ru_maxrss / 1024, connect_p50, connect_p99, count_changes[count_changes.size() / 2],
      count_changes[count_changes.size() * 95 / 100], restart_ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {10, 1000, 10000, 100000};
  RulesetConfig ruleset;  // --shards 1 measures the one-table layout
  CLI::App app{
      "proxy_bench: podnet's service proxy at scale in a namespace it creates (root): full sync of N "
      "services x 10 endpoints, one-endpoint-change latency, connect() latency"};
  app.add_option("sizes", sizes, "Numbers of services, one run each")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--shards", ruleset.shards, "Shard tables of the ruleset (1: everything in the base table)")
      ->envname("PODNET_BENCH_SHARDS")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) return std::fprintf(stderr, "proxy_bench: needs root\n"), 1;
  bench::StopSignal stop("proxy_bench", std::chrono::seconds(10));
  int rc = 0;
  for (int n : sizes) {
    if (bench::StopSignal::requested()) break;
    // A fresh namespace per size, so each full sync starts from an empty kernel table.
    std::string name = "pn-bench-proxy-" + std::to_string(::getpid()) + "-" + std::to_string(n);
    auto ns = bench::StopSignal::create_netns(name);
    if (!ns) {
      if (bench::StopSignal::requested()) break;
      std::fprintf(stderr, "create netns: %s\n", ns.error().message().c_str());
      return 1;
    }
    rc |= run(n, ruleset, *ns, name);
    if (auto s = bench::StopSignal::delete_netns(name); !s)
      std::fprintf(stderr, "%s\n", s.error().message().c_str());
  }
  if (bench::StopSignal::requested()) {
    std::fprintf(stderr, "proxy_bench: interrupted, cleaned up\n");
    return bench::StopSignal::exit_code();
  }
  return rc;
}
