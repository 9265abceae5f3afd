// Wiring only: flags -> kubeconfig, client, kernel, Proxier, two informer threads and the sync
// loop on the main thread. Signals are taken by sigwait on a thread of their own, so no handler
// runs inside library code and stopping is ordinary code.
#include "cli/proxy_cmd.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <thread>
#include <tuple>

#include "cli/signal_waiter.h"
#include "client/https_client.h"
#include "client/informer.h"
#include "client/kubeconfig.h"
#include "nft/nft.h"
#include "proxy/feed.h"
#include "proxy/http_server.h"
#include "proxy/kernel.h"

namespace podnet::cli {

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  std::string_view unit(end, text.data() + text.size() - end);
  if (ec != std::errc() || n < 0)
    return fail_msg("duration " + std::string(text) + ": want e.g. 100ms or 1s");
  using namespace std::chrono;
  if (unit == "ms") return milliseconds(n);
  if (unit == "s") return duration_cast<milliseconds>(seconds(n));
  if (unit == "m") return duration_cast<milliseconds>(minutes(n));
  if (unit == "us") return duration_cast<milliseconds>(microseconds(n));
  return fail_msg("duration " + std::string(text) + ": unit must be us, ms, s or m");
}

Result<boost::asio::ip::tcp::endpoint> parse_bind_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return fail_msg("bind address " + std::string(text) + ": want HOST:PORT");
  std::string_view host = text.substr(0, colon), port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint16_t port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size())
    return fail_msg("bind address " + std::string(text) + ": bad port");
  auto ip = parse_ip(std::string(host));
  if (!ip) return fail_msg("bind address " + std::string(text) + ": bad host");
  return boost::asio::ip::tcp::endpoint(*ip, port);
}

Result<std::vector<IpAddress>> host_addresses() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return fail("getifaddrs");
  std::vector<IpAddress> out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    IpAddress a;
    if (i->ifa_addr->sa_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      a = boost::asio::ip::address_v4(ntohl(sin->sin_addr.s_addr));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      boost::asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), sin6->sin6_addr.s6_addr, 16);
      auto v6 = boost::asio::ip::address_v6(b);
      if (v6.is_link_local()) continue;
      a = v6;
    } else {
      continue;
    }
    if (a.is_loopback() || std::find(out.begin(), out.end(), a) != out.end()) continue;
    out.push_back(a);
  }
  ::freeifaddrs(list);
  return out;
}

Status cleanup_proxy_tables(const std::string& table) {
  PODNET_TRY(nft, nft::Nft::open());
  proxy::RulesetConfig cfg;
  cfg.table = table;
  if (auto s = proxy::remove_proxy_tables(nft, cfg); !s)
    return std::unexpected(wrap(s.error(), "remove proxy tables"));
  return {};
}

namespace {

Result<proxy::ProxierOptions> proxier_options(const ProxyFlags& flags) {
  proxy::ProxierOptions opts;
  PODNET_TRY(interval, parse_duration(flags.min_sync_interval));
  opts.min_sync_interval = interval;
  opts.node.name = flags.hostname;
  if (opts.node.name.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) return fail("gethostname");
    opts.node.name = host;
  }
  if (flags.node_ips.empty()) {
    PODNET_TRY(addrs, host_addresses());
    opts.node.addresses = std::move(addrs);
  }
  for (const auto& text : flags.node_ips) {
    PODNET_TRY(a, parse_ip(text));
    opts.node.addresses.push_back(a);
  }
  return opts;
}

}  // namespace

int run_proxy(const ProxyFlags& flags) {
  const proxy::RulesetConfig ruleset;
  if (flags.cleanup) {
    if (auto s = cleanup_proxy_tables(ruleset.table); !s) {
      spdlog::error("{}", s.error().message());
      return 1;
    }
    spdlog::info("removed nftables tables ip/ip6 {} and its shard tables {}-N", ruleset.table, ruleset.table);
    return 0;
  }
  if (flags.kubeconfig.empty()) {
    spdlog::error("--kubeconfig is required");
    return 2;
  }
  auto opts = proxier_options(flags);
  if (!opts) {
    spdlog::error("{}", opts.error().message());
    return 2;
  }
  opts->ruleset = ruleset;
  auto access = client::load_kubeconfig(flags.kubeconfig);
  if (!access) {
    spdlog::error("{}", access.error().message());
    return 2;
  }
  auto api = client::HttpsApiClient::create(*access);
  if (!api) {
    spdlog::error("API client: {}", api.error().message());
    return 1;
  }
  auto kernel = proxy::NftProxyKernel::open(ruleset);
  if (!kernel) {
    spdlog::error("nftables: {}", kernel.error().message());
    return 1;
  }
  auto conntrack = proxy::NetlinkConntrack::open();
  if (!conntrack) {
    spdlog::error("conntrack: {}", conntrack.error().message());
    return 1;
  }
  std::string addrs;
  for (const auto& a : opts->node.addresses) addrs += (addrs.empty() ? "" : ",") + a.to_string();
  spdlog::info("proxy for node {} ({}), API {} (context {})", opts->node.name, addrs, access->server,
               access->context);

  proxy::ProxyHttpOptions http;
  http.log = [](const std::string& msg) { spdlog::warn("{}", msg); };
  for (auto [flag, text, target] :
       {std::tuple{"--metrics-bind-address", &flags.metrics_bind_address, &http.metrics},
        std::tuple{"--healthz-bind-address", &flags.healthz_bind_address, &http.healthz}}) {
    if (text->empty()) continue;
    auto ep = parse_bind_address(*text);
    if (!ep) {
      spdlog::error("{}: {}", flag, ep.error().message());
      return 2;
    }
    *target = *ep;
  }
  // The HTTP thread starts here, before SignalWaiter: it must not take SIGTERM either (the signal
  // would end the process with its default action instead of reaching sigwait).
  block_stop_signals();
  auto server = proxy::ProxyHttpServer::start(std::move(http));
  if (!server) {
    spdlog::error("{}", server.error().message());
    return 1;
  }

  proxy::Proxier proxier(*kernel, std::move(*opts), &*conntrack);
  proxier.set_observer(server->get());
  proxy::ProxyFeed feed(proxier);
  client::Informer services(**api, feed.services(), {.path = "/api/v1/services"});
  client::Informer slices(**api, feed.slices(), {.path = "/apis/discovery.k8s.io/v1/endpointslices"});
  auto stop_all = [&] {
    services.stop();
    slices.stop();
    feed.stop();
  };
  {
    SignalWaiter signals(stop_all);
    std::thread t1([&] { services.run(); });
    std::thread t2([&] { slices.run(); });
    feed.run();
    stop_all();
    t1.join();
    t2.join();
  }
  spdlog::info("stopped after {} syncs; nftables rules left in place (podnet proxy --cleanup removes them)",
               feed.syncs());
  return 0;
}

}  // namespace podnet::cli
