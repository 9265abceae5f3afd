// The server's main loop: signals are blocked before any thread starts so that only sigwait()
// here sees them, and shutdown is the ApiServer's destructor (connections, then store).
#include "cli/server.h"

#include <signal.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "apiserver/api_server.h"
#include "apiserver/node_credential.h"
#include "client/kubeconfig.h"
#include "common/ip.h"

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

}  // namespace

int run_server(const ServerFlags& flags) {
  auto log = spdlog::stderr_color_mt("server");
  if (!flags.issue_node_credential.empty()) return issue_node_credential(flags, *log);
  if (!validate(flags, *log)) return 2;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  apiserver::ApiServerOptions options;
  options.data_dir = flags.data_dir;
  options.bind_address = flags.bind_address;
  options.port = flags.port;
  options.run_controllers = true;
  options.cluster_cidr = flags.cluster_cidr;
  options.node_cidr_mask = flags.node_cidr_mask;
  options.lb_pool = flags.lb_pool;
  options.node_network = flags.node_network;
  options.node_monitor_grace_period = std::chrono::seconds(flags.node_monitor_grace_period);
  options.pod_gc_quarantine = std::chrono::seconds(flags.pod_gc_quarantine);
  options.service_cidr = flags.service_cidr;
  options.node_port_range = flags.node_port_range;
  auto server = apiserver::ApiServer::start(options);
  if (!server) {
    log->error("start: {}", server.error().message());
    return 1;
  }
  log->info("serving on https://{}:{}; kubeconfig {}", flags.bind_address, (*server)->port(),
            (*server)->kubeconfig_path());
  int sig = 0;
  sigwait(&signals, &sig);
  log->info("signal {}: shutting down", sig);
  server->reset();
  log->info("stopped");
  return 0;
}

}  // namespace podnet::cli
