// Wiring only: everything the agent does lives in src/agent.
#include "cli/agent_cmd.h"

#include <malloc.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <optional>

#include "agent/agent.h"
#include "agent/kernel.h"
#include "agent/system_info.h"
#include "cli/node_flags.h"
#include "cli/signal_waiter.h"
#include "client/https_client.h"
#include "client/kubeconfig.h"
#include "common/time.h"
#include "dns/names.h"
#include "dns/server.h"
#include "fastpath/fastpath.h"
#include "ipam/adopt.h"
#include "k8s/names.h"
#include "policy/feed.h"
#include "policy/kernel.h"
#include "policy/metrics.h"
#include "policy/ruleset.h"
#include "proxy/conntrack.h"
#include "proxy/http_listeners.h"
#include "proxy/http_server.h"
#include "proxy/kernel.h"
#include "runtime/pod_mounts.h"
#include "runtime/pod_start_metrics.h"

namespace podnet::cli {

namespace {

std::string bpf_dir_of(const AgentFlags& f) {
  return f.bpf_dir.empty() ? f.state_dir + "/bpf" : f.bpf_dir;
}

Result<agent::AgentOptions> agent_options(const AgentFlags& f) {
  agent::AgentOptions o;
  PODNET_TRY(overlay, agent::parse_overlay(f.overlay));
  o.node.overlay = overlay;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return fail("gethostname");
  o.node.hostname = f.node_name.empty() ? host : f.node_name;
  o.node.name = o.node.hostname;
  if (!f.node_ip.empty()) {
    PODNET_TRY(ip, parse_ip(f.node_ip));
    o.node.ip = ip;
  } else {
    PODNET_TRY(addrs, host_addresses());
    auto v4 = std::find_if(addrs.begin(), addrs.end(), [](const IpAddress& a) { return a.is_v4(); });
    if (v4 == addrs.end()) return fail_msg("no IPv4 address on this host: give --node-ip");
    o.node.ip = *v4;
  }
  for (const auto& c : f.cluster_cidrs) {
    PODNET_TRY(p, parse_prefix(c));
    o.cluster_cidrs.push_back(p.network());
  }
  for (const auto& c : f.lb_pools) {
    PODNET_TRY(p, parse_prefix(c));
    o.lb_pools.push_back(p.network());
  }
  for (const auto& ip : f.cluster_dns) {
    auto a = parse_ip(ip);
    if (!a) return fail_msg("--cluster-dns: " + a.error().message());
    o.cluster_dns.push_back(*a);
  }
  o.state_dir = f.state_dir;
  o.run_dir = f.run_dir;
  o.cni_conf_dir = f.cni_conf_dir;
  o.cni_bin = f.cni_bin;
  if (f.fast_path) o.bpf_dir = bpf_dir_of(f);
  PODNET_TRY(hb, parse_duration(f.heartbeat_interval));
  PODNET_TRY(grace, parse_duration(f.node_grace_period));
  if (hb.count() <= 0 || grace <= hb) return fail_msg("want 0 < --heartbeat-interval < --node-grace-period");
  o.heartbeat_interval = hb;
  o.node_grace = grace;
  if (f.dns != "on" && f.dns != "off") return fail_msg("--dns: want on or off, not \"" + f.dns + "\"");
  o.dns = f.dns == "on";
  // One domain for the DNS server's zone and the pods' search paths (kubelet's --cluster-domain).
  o.cluster_domain = f.cluster_domain;
  while (!o.cluster_domain.empty() && o.cluster_domain.back() == '.') o.cluster_domain.pop_back();
  if (auto errs = k8s::dns1123_subdomain_errors(o.cluster_domain); !errs.empty())
    return fail_msg("--cluster-domain \"" + f.cluster_domain + "\": " + errs.front());
  if (dns::to_wire(o.cluster_domain).size() <= 1)
    return fail_msg("--cluster-domain: not a DNS name: \"" + f.cluster_domain + "\"");
  for (const auto& u : f.dns_upstreams) {
    PODNET_TRY(a, dns::parse_socket_address(u));
    (void)a;
  }
  o.dns_upstreams = f.dns_upstreams;
  return o;
}

}  // namespace

int run_agent(const AgentFlags& flags, agent::PodRunnerFactory pods) {
  // The node server's TLS sessions write with write(2) (OpenSSL's socket BIO): a peer that went
  // away mid-write (the API server ending an exec or attach) must be EPIPE, not the agent's death.
  ::signal(SIGPIPE, SIG_IGN);
  const proxy::RulesetConfig ruleset;
  if (flags.cleanup) {
    auto a = agent::cleanup_agent_network();
    auto p = cleanup_proxy_tables(ruleset.table);
    auto d = fastpath::detach_all();
    auto f = fastpath::remove_pins(bpf_dir_of(flags));
    Status np;
    if (auto nft = nft::Nft::open(); !nft) {
      np = std::unexpected(nft.error());
    } else if (auto q = nft->query("list tables", false);
               q && q->find("inet podnet-policy") != std::string::npos) {
      np = nft->run(policy::render_delete());
    }
    for (const Status* s : {&a, &p, &d, &f, &np})
      if (!*s) {
        spdlog::error("{}", s->error().message());
        return 1;
      }
    spdlog::info(
        "removed the agent's nftables tables, {} device, routes and announced addresses, the proxy's "
        "tables, and the fast path's programs and pins",
        agent::kVxlanDevice);
    return 0;
  }
  if (flags.kubeconfig.empty()) {
    spdlog::error("--kubeconfig is required");
    return 2;
  }
  // libnftables refills its ruleset cache before every command the kernel's generation moved since
  // (any write, its own last commit included, so a context kept across commands refills too) and
  // gives every table four hash tables of 8192 buckets (128 KiB each). Under glibc's defaults each
  // of them is a fresh mmap, or heap pages trimmed after the last command and faulted back in: with
  // 40 tables, 5,200 page faults and ~21 ms of CPU per command (bench/nft_cache_bench). Kept on the
  // heap, and the heap not trimmed below 32 MiB, a refill reuses the last one's pages: 107 faults,
  // ~3.4 ms. The big one-off syncs (proxy, policy) still give memory back with malloc_trim.
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 32 << 20);
  auto opts = agent_options(flags);
  if (!opts) {
    spdlog::error("{}", opts.error().message());
    return 2;
  }
  // Files made per pod start and dead with the pods belong on a tmpfs, as containerd and CRI-O keep
  // theirs under /run: on a disk file system each creation costs (docs/up.md, "Pod start").
  if (!opts->run_dir.empty())
    if (auto s = runtime::ensure_tmpfs(opts->run_dir, uint64_t{64} << 20); !s) {
      spdlog::error("--run-dir: {}", s.error().message());
      return 1;
    }
  // A node upgraded from a build without --run-dir keeps its pods, whose leases (and the plugin's
  // state) are still under the state dir: they move into the run dir, the old paths becoming links
  // to the new ones, before any pod starts, or the empty new dir would hand out their addresses.
  if (!opts->run_dir.empty() && opts->run_dir != opts->state_dir)
    for (const char* sub : {"/ipam", "/cni-state"}) {
      auto moved = ipam::adopt_dir(opts->state_dir + sub, opts->run_dir + sub);
      if (!moved) {
        spdlog::error("--run-dir: adopting {}{}: {}", opts->state_dir, sub, moved.error().message());
        return 1;
      }
      if (std::string_view(sub) == "/ipam" && (moved->reservations || moved->conflicts))
        spdlog::info("--run-dir: adopted {} IPAM leases from {}{} ({} already held by another owner)",
                     moved->reservations, opts->state_dir, sub, moved->conflicts);
    }
  if (flags.run_pods) {
    if (pods)
      opts->pod_runner = std::move(pods);
    else
      spdlog::warn("--run-pods: this build has no pod runner; pods are not run");
  }
  // Only a node's kubelet reports nodeInfo. Without --run-pods the cluster's own kubelet runs the
  // pods (the DaemonSet on a real cluster), and its versions must not be overwritten by ours.
  if (opts->pod_runner) opts->node.system_info = agent::read_node_system_info(flags.proxy);
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
  auto kernel = agent::open_netlink_kernel();
  if (!kernel) {
    spdlog::error("netlink: {}", kernel.error().message());
    return 1;
  }
  std::optional<policy::NftPolicyKernel> policy_kernel;
  std::unique_ptr<policy::Enforcer> enforcer;
  std::unique_ptr<policy::PolicyFeed> policy_feed;
  std::optional<policy::NflogReader> denial_log;
  if (flags.network_policy) {
    auto k = policy::NftPolicyKernel::open();
    if (!k) {
      spdlog::error("nftables: {}", k.error().message());
      return 1;
    }
    policy_kernel.emplace(std::move(*k));
    policy::RulesetConfig rules;
    if (flags.policy_log_group > 0) {
      // Bound before the rules name the group: a log rule with no listener logs nothing.
      auto reader = policy::NflogReader::open(static_cast<uint16_t>(flags.policy_log_group));
      if (reader) {
        denial_log.emplace(std::move(*reader));
        rules.log_group = flags.policy_log_group;
      } else {
        spdlog::warn("network policy: no denied-connection log: {}", reader.error().message());
      }
    }
    enforcer = std::make_unique<policy::Enforcer>(*policy_kernel, opts->node.name, rules);
    policy_feed = std::make_unique<policy::PolicyFeed>(*enforcer);
    opts->network_policy = policy_feed.get();
    if (denial_log) opts->network_policy_log = &*denial_log;
  }
  std::optional<proxy::NftProxyKernel> proxy_kernel;
  std::optional<proxy::NetlinkConntrack> conntrack;
  std::unique_ptr<proxy::ProxyHttpServer> proxy_http;
  std::unique_ptr<proxy::Proxier> proxier;
  if (flags.proxy) {
    auto interval = parse_duration(flags.min_sync_interval);
    if (!interval) {
      spdlog::error("{}", interval.error().message());
      return 2;
    }
    auto k = proxy::NftProxyKernel::open(ruleset);
    if (!k) {
      spdlog::error("nftables: {}", k.error().message());
      return 1;
    }
    proxy_kernel.emplace(std::move(*k));
    proxy::ProxierOptions popts;
    popts.ruleset = ruleset;
    popts.min_sync_interval = *interval;
    popts.node.name = opts->node.name;
    popts.node.addresses = {opts->node.ip};  // NodePorts answer on the node's IP
    auto ct = proxy::NetlinkConntrack::open();
    if (!ct) {
      spdlog::error("conntrack: {}", ct.error().message());
      return 1;
    }
    conntrack.emplace(std::move(*ct));
    // kube-proxy's ports: /healthz and healthCheckNodePorts on the node, /metrics on loopback. The
    // HTTP thread must not take the stop signals, so they are blocked before it starts.
    proxy::ProxyHttpOptions http;
    http.log = [](const std::string& msg) { spdlog::warn("{}", msg); };
    // The NetworkPolicy figures, when enforced (the feed is made below; the lambda reads it late).
    // With --run-pods, the pod start SLI as kubelet exposes it (runtime/pod_start_metrics.h).
    http.extra_metrics = [&policy_feed, run_pods = bool(opts->pod_runner)]() -> std::string {
      std::string text = run_pods ? runtime::node_pod_start_metrics().prometheus_text() : "";
      if (!policy_feed) return text;
      policy::DeniedCounters denied;
      if (auto nft = nft::Nft::open())
        if (auto d = policy::read_denied(*nft)) denied = *d;
      return text + policy::prometheus_text(policy_feed->metrics(), denied, policy_feed->admit_metrics(),
                                            policy_feed->counters());
    };
    http.healthz = boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::any(), 10256);
    http.metrics = boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 10249);
    block_stop_signals();
    auto server = proxy::ProxyHttpServer::start(std::move(http));
    if (!server) {
      spdlog::error("proxy HTTP: {}", server.error().message());
      return 1;
    }
    proxy_http = std::move(*server);
    proxier = std::make_unique<proxy::Proxier>(*proxy_kernel, std::move(popts), &*conntrack);
    proxier->set_observer(proxy_http.get());
  }
  spdlog::info("agent for node {} ({}, {}), API {}", opts->node.name, opts->node.ip.to_string(),
               flags.overlay, access->server);
  const bool dns_on = opts->dns;
  agent::Agent agent(**api, **kernel, proxier.get(), std::move(*opts));
  // CoreDNS's /metrics port, on loopback like kube-proxy's.
  std::unique_ptr<proxy::HttpListeners> dns_http;
  if (dns_on && !flags.dns_metrics_address.empty()) {
    auto where = dns::parse_socket_address(flags.dns_metrics_address);
    if (!where) {
      spdlog::error("--dns-metrics-address: {}", where.error().message());
      return 2;
    }
    block_stop_signals();
    dns_http = std::make_unique<proxy::HttpListeners>();
    auto port = dns_http->open("dns-metrics", boost::asio::ip::tcp::endpoint(where->ip, where->port),
                               [&agent](const std::string& target) {
                                 proxy::HttpReply r;
                                 if (target.rfind("/metrics", 0) != 0) {
                                   r.status = 404;
                                   r.body = "not found\n";
                                   return r;
                                 }
                                 r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                                 r.body = agent.dns_metrics()->prometheus_text();
                                 return r;
                               });
    if (!port) spdlog::warn("DNS metrics on {}: {}", where->str(), port.error().message());
  }
  Status result;
  {
    SignalWaiter signals([&] { agent.stop(); });
    result = agent.run();
  }
  if (!result) {
    spdlog::error("{}", result.error().message());
    return 1;
  }
  spdlog::info("stopped; network state left in place (podnet agent --cleanup removes it)");
  return 0;
}

}  // namespace podnet::cli
