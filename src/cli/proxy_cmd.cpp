// Wiring only: flags -> kubeconfig, client, kernel, Proxier, two informer threads and the sync
// loop on the main thread. Signals are taken by sigwait on a thread of their own, so no handler
// runs inside library code and stopping is ordinary code.
#include "cli/proxy_cmd.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <thread>
#include <tuple>

#include "cli/node_flags.h"
#include "cli/signal_waiter.h"
#include "client/https_client.h"
#include "client/informer.h"
#include "client/kubeconfig.h"
#include "common/time.h"
#include "nft/nft.h"
#include "proxy/feed.h"
#include "proxy/http_server.h"
#include "proxy/kernel.h"

namespace podnet::cli {

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
  // The Proxier keeps the objects, typed; the informers only their versions.
  client::Informer services(**api, feed.services(), {.path = "/api/v1/services", .remember_objects = false});
  client::Informer slices(**api, feed.slices(),
                          {.path = "/apis/discovery.k8s.io/v1/endpointslices", .remember_objects = false});
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
