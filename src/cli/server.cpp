// The composition root of `podnet server`: the API server first, serving as soon as it can, then
// the controllers over its in-process client (they report not ready on /readyz until their caches have
// synced, and keep retrying). Signals are blocked before any thread starts so that only sigwait()
// here sees them; shutdown stops the controllers, then the API server (connections, then store).
#include "cli/server.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "apiserver/api_server.h"
#include "apiserver/auth/authorizer.h"
#include "apiserver/auth/node_credential.h"
#include "apiserver/endpoints/readiness.h"
#include "client/kubeconfig.h"
#include "common/ip.h"
#include "common/time.h"
#include "controllers/manager.h"

namespace podnet::cli {
namespace {

bool valid_port_range(const std::string& range) {
  size_t dash = range.find('-');
  if (dash == std::string::npos) return false;
  int lo = 0, hi = 0;
  auto r1 = std::from_chars(range.data(), range.data() + dash, lo);
  auto r2 = std::from_chars(range.data() + dash + 1, range.data() + range.size(), hi);
  return r1.ec == std::errc() && r1.ptr == range.data() + dash && r2.ec == std::errc() &&
         r2.ptr == range.data() + range.size() && lo > 0 && lo <= hi && hi <= 65535;
}

// Bad values fail at start-up with the flag's name; the allocators check their ranges again.
bool validate(const ServerFlags& flags, spdlog::logger& log) {
  for (const auto& [name, value] :
       {std::pair{"--service-cidr", flags.service_cidr}, std::pair{"--cluster-cidr", flags.cluster_cidr},
        std::pair{"--lb-pool", flags.lb_pool}, std::pair{"--node-network", flags.node_network}}) {
    if (value.empty()) continue;
    // --service-cidr may name two ranges (dual-stack): "10.96.0.0/12,fd00:10:96::/108".
    for (size_t start = 0, end = 0; start <= value.size(); start = end + 1) {
      end = value.find(',', start);
      if (end == std::string::npos) end = value.size();
      if (auto p = parse_prefix(value.substr(start, end - start)); !p) {
        log.error("{} {}: {}", name, value, p.error().message());
        return false;
      }
    }
  }
  if (flags.node_cidr_mask < 1 || flags.node_cidr_mask > 128) {
    log.error("--node-cidr-mask {}: out of range", flags.node_cidr_mask);
    return false;
  }
  if (auto ttl = parse_duration(flags.event_ttl); !ttl) {
    log.error("--event-ttl {}: want a duration such as 1h, 30m or 90s", flags.event_ttl);
    return false;
  }
  if (flags.event_rate_limit != "default")
    if (auto limits = apiserver::parse_event_rate_limits(flags.event_rate_limit); !limits) {
      log.error("--event-rate-limit: {}", limits.error().message());
      return false;
    }
  if (!flags.advertise_address.empty()) {
    auto ip = parse_ip(flags.advertise_address);
    if (!ip || ip->is_unspecified()) {
      log.error("--advertise-address {}: want one IP address that clients can reach",
                flags.advertise_address);
      return false;
    }
  }
  if (!valid_port_range(flags.node_port_range)) {
    log.error("--node-port-range {}: want LOW-HIGH within 1-65535", flags.node_port_range);
    return false;
  }
  return true;
}

int issue_node_credential(const ServerFlags& flags, spdlog::logger& log) {
  if (flags.out.empty()) {
    log.error("--issue-node-credential needs --out FILE");
    return 2;
  }
  if (!flags.node_addresses.empty() && flags.serving_cert_out.empty()) {
    log.error("--node-address needs --serving-cert-out PREFIX");
    return 2;
  }
  std::string url = flags.server_url;
  if (url.empty()) {
    auto admin = client::load_kubeconfig(flags.data_dir + "/admin.kubeconfig");
    if (!admin) {
      log.error("server URL: {} (start the server once, or pass --server)", admin.error().message());
      return 1;
    }
    url = admin->server;
  }
  auto written =
      apiserver::write_node_kubeconfig(flags.data_dir + "/pki", flags.issue_node_credential, url, flags.out);
  if (!written) {
    log.error("--issue-node-credential {}: {}", flags.issue_node_credential, written.error().message());
    return 1;
  }
  log.info("wrote {} for system:node:{} ({})", flags.out, flags.issue_node_credential, url);
  if (flags.serving_cert_out.empty()) return 0;
  auto serving = apiserver::write_node_serving_cert(flags.data_dir + "/pki", flags.issue_node_credential,
                                                    flags.node_addresses, flags.serving_cert_out);
  if (!serving) {
    log.error("--serving-cert-out for {}: {}", flags.issue_node_credential, serving.error().message());
    return 1;
  }
  log.info("wrote {}.crt for the log server of {} ({})", flags.serving_cert_out, flags.issue_node_credential,
           fmt::join(flags.node_addresses, ", "));
  return 0;
}

// Each connection and watch holds a file descriptor; the soft limit (often 1024) is raised to the
// hard one, as Go's runtime does for every Go server since 1.19.
void raise_fd_limit(spdlog::logger& log) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
    log.warn("raise RLIMIT_NOFILE from {} to {}: {}", before, limit.rlim_max, std::strerror(errno));
}

// The IPv4 address of the interface the default route leaves by (kube's ChooseHostInterface), read
// from /proc/net/route; empty when there is none.
std::string default_route_address() {
  std::ifstream routes("/proc/net/route");
  std::string line, iface;
  std::getline(routes, line);  // header
  while (std::getline(routes, line)) {
    std::istringstream fields(line);
    std::string name, destination, gateway, flags_text, refcnt, use, metric, mask;
    if (!(fields >> name >> destination >> gateway >> flags_text >> refcnt >> use >> metric >> mask))
      continue;
    if (destination == "00000000" && mask == "00000000") {
      iface = name;
      break;
    }
  }
  if (iface.empty()) return "";
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string out;
  for (ifaddrs* i = list; i && out.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || iface != i->ifa_name) continue;
    char text[INET_ADDRSTRLEN];
    auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) out = text;
  }
  ::freeifaddrs(list);
  return out;
}

// Where the `default/kubernetes` EndpointSlice points clients: --advertise-address, else the address
// the server listens on, else (listening on every address) the default route's interface address,
// as kube-apiserver chooses it.
std::string advertise_address(const ServerFlags& flags) {
  if (!flags.advertise_address.empty()) return parse_ip(flags.advertise_address)->to_string();
  if (auto bind = parse_ip(flags.bind_address); bind && !bind->is_unspecified()) return bind->to_string();
  return default_route_address();
}

}  // namespace

int run_server(const ServerFlags& flags) {
  auto log = spdlog::stderr_color_mt("server");
  if (!flags.issue_node_credential.empty()) return issue_node_credential(flags, *log);
  if (!validate(flags, *log)) return 2;
  raise_fd_limit(*log);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  apiserver::ApiServerOptions options;
  options.data_dir = flags.data_dir;
  options.bind_address = flags.bind_address;
  options.port = flags.port;
  options.node_network = flags.node_network;
  options.max_connections = static_cast<size_t>(flags.max_connections);
  options.service_cidr = flags.service_cidr;
  options.node_port_range = flags.node_port_range;
  options.event_ttl = *parse_duration(flags.event_ttl);
  if (flags.event_rate_limit != "default")
    options.event_rate_limits = *apiserver::parse_event_rate_limits(flags.event_rate_limit);
  auto server = apiserver::ApiServer::start(options);
  if (!server) {
    log->error("start: {}", server.error().message());
    return 1;
  }
  const auto& audit = (*server)->audit();
  for (const auto& finding : audit.findings) log->error("{}", finding);
  if (audit.repaired + audit.quarantined > 0)
    log->error("start-up audit: {} stored objects checked, {} repaired, {} quarantined (kept under {}/)",
               audit.checked, audit.repaired, audit.quarantined, apiserver::kQuarantinePrefix);
  log->info("serving on https://{}:{}; kubeconfig {}", flags.bind_address, (*server)->port(),
            (*server)->kubeconfig_path());

  controllers::ControllerOptions copts;
  copts.cluster_cidr = flags.cluster_cidr;
  copts.node_cidr_mask = flags.node_cidr_mask;
  copts.lb_pool = flags.lb_pool;
  copts.node_monitor_grace_period = std::chrono::seconds(flags.node_monitor_grace_period);
  copts.pod_gc_quarantine = std::chrono::seconds(flags.pod_gc_quarantine);
  auto kubernetes_ip = controllers::first_service_ip(flags.service_cidr);
  if (!kubernetes_ip) {
    log->error("--service-cidr {}: {}", flags.service_cidr, kubernetes_ip.error().message());
    return 1;
  }
  controllers::KubernetesServiceConfig kubernetes{*kubernetes_ip, (*server)->port(), {}};
  if (std::string advertised = advertise_address(flags); !advertised.empty())
    kubernetes.advertise_ips.push_back(advertised);
  else
    log->warn(
        "no address to advertise (no --advertise-address, no default route): the default/kubernetes "
        "EndpointSlice has no endpoints");
  copts.kubernetes_service = kubernetes;
  // The controllers act as system:kube-controller-manager through the API server's request chain
  // (authorization, admission, strategies), in-process: never straight to the store.
  std::unique_ptr<k8s::ApiClient> controller_api = (*server)->client(apiserver::controller_identity());
  auto manager = controllers::ControllerManager::start(*controller_api, copts);
  if (!manager) {
    log->error("controllers: {}", manager.error().message());
    return 1;
  }
  (*server)->readiness().add("controllers", (*manager)->readiness_check());

  int sig = 0;
  sigwait(&signals, &sig);
  log->info("signal {}: shutting down", sig);
  (*server)->readiness().add("shutdown", [] { return false; });
  manager->reset();
  controller_api.reset();
  server->reset();
  log->info("stopped");
  return 0;
}

}  // namespace podnet::cli
