// dns_bench: podnet's DNS server with N services `s<i>.default.svc.cluster.local` (one ClusterIP
// each), serving until SIGTERM on 127.0.0.1:PORT in the caller's namespace; the peer comparison
// (dnsperf against this, unbound and dnsmasq) is bench/run-dns-bench.sh. Also prints the store's
// memory (RSS before and after filling it) for N services.
//   dns_bench PORT [SERVICES] [--endpoints K] [--headless-percent P]   (--help: CLI11, as every main)
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "dns/server.h"
#include "dns/store.h"

namespace {

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

podnet::dns::Server* g_server = nullptr;

}  // namespace

int main(int argc, char** argv) {
  int port = 0, n = 10000, endpoints = 0, headless_percent = 0;
  CLI::App app{"dns_bench: podnet's DNS server with N cluster names on 127.0.0.1:PORT until SIGTERM/SIGINT"};
  app.add_option("port", port, "UDP and TCP port on 127.0.0.1")->required()->check(CLI::Range(1, 65535));
  app.add_option("services", n, "Services s<i>.default.svc.cluster.local (one ClusterIP each)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option(
         "--endpoints", endpoints,
         "give each Service an EndpointSlice with this many ready endpoints (as the informer decodes them)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  app.add_option("--headless-percent", headless_percent, "this share of the Services is headless")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  CLI11_PARSE(app, argc, argv);
  using namespace podnet;
  dns::RecordStore store;
  long before = rss_kib();
  for (int i = 0; i < n; ++i) {
    k8s::Service s;
    s.meta.name = "s" + std::to_string(i);
    s.meta.namespace_ = "default";
    uint32_t ip = (10u << 24) | (96u << 16) | static_cast<uint32_t>(i + 10);
    s.cluster_ips.push_back(boost::asio::ip::address_v4(ip));
    s.ports.push_back({.name = "http", .protocol = k8s::Protocol::kTcp, .port = 80});
    s.meta.labels = {{"app", s.meta.name}, {"tier", "web"}};
    s.meta.resource_version = std::to_string(100000 + i);
    s.headless = headless_percent > 0 && i % 100 < headless_percent;
    if (s.headless) s.cluster_ips.clear();
    store.upsert_service(s);
    if (endpoints == 0) continue;
    k8s::EndpointSlice slice;
    slice.meta.name = s.meta.name + "-abcde";
    slice.meta.namespace_ = "default";
    slice.meta.resource_version = std::to_string(200000 + i);
    slice.meta.labels = {{k8s::kServiceNameLabel, s.meta.name},
                         {"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"}};
    for (int e = 0; e < endpoints; ++e) {
      uint32_t pod = (10u << 24) | (244u << 16) | static_cast<uint32_t>((i * endpoints + e) % 65000 + 2);
      slice.endpoints.push_back({.addresses = {boost::asio::ip::address_v4(pod).to_string()},
                                 .conditions = {.ready = true, .serving = true, .terminating = false},
                                 .node_name = "pn-node-" + std::to_string(e % 3),
                                 .zone = "",
                                 .hostname = ""});
    }
    slice.ports.push_back({.name = "http", .protocol = k8s::Protocol::kTcp, .port = 8080});
    store.upsert_slice(slice);
  }
  long after = rss_kib();
  std::fprintf(
      stderr,
      "dns_bench: %d services (%d%% headless, %d endpoints each), %zu names, store RSS %ld KiB (%.0f "
      "bytes/service)\n",
      n, headless_percent, endpoints, store.name_count(), after - before,
      n ? (after - before) * 1024.0 / n : 0.0);
  dns::DnsMetrics metrics;
  dns::ServerOptions o;
  o.listen = {{*parse_ip("127.0.0.1"), static_cast<uint16_t>(port)}};
  auto server = dns::Server::create(store, metrics, o);
  if (!server) {
    std::fprintf(stderr, "dns_bench: %s\n", server.error().message().c_str());
    return 1;
  }
  g_server = server->get();
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_server->stop(); };
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  (*server)->run();
  std::fprintf(stderr, "dns_bench: %llu requests\n", static_cast<unsigned long long>(metrics.requests()));
  return 0;
}
