// The proxy's HTTP face, as kube-proxy's: per-service health checks on each healthCheckNodePort
// (LoadBalancer, externalTrafficPolicy Local), /healthz, and /metrics. A SyncObserver: the Proxier
// reports, this side answers from its own copy under its own lock.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/error.h"
#include "proxy/http_listeners.h"
#include "proxy/metrics.h"
#include "proxy/sync_report.h"

namespace podnet::proxy {

struct ProxyHttpOptions {
  // kube-proxy's --healthz-bind-address (default 0.0.0.0:10256) and --metrics-bind-address
  // (default 127.0.0.1:10249); nullopt: not served.
  std::optional<boost::asio::ip::tcp::endpoint> healthz, metrics;
  // Health checks listen on every address of the node: [::] (IPv4 too), or 0.0.0.0 when the
  // node has no IPv6.
  bool health_checks = true;
  // Unhealthy when a change has waited longer than this for its sync (kube-proxy: 2 x sync period).
  std::chrono::steady_clock::duration health_timeout = std::chrono::seconds(60);
  std::function<void(const std::string&)> log = [](const std::string&) {};
  // More Prometheus text appended to /metrics (the agent's NetworkPolicy figures); empty: none.
  std::function<std::string()> extra_metrics;
};

class ProxyHttpServer : public SyncObserver {
 public:
  // Listens on the healthz and metrics addresses (in the calling thread's network namespace, as
  // are the health check ports opened later by synced()).
  static Result<std::unique_ptr<ProxyHttpServer>> start(ProxyHttpOptions options);

  void queued(std::chrono::steady_clock::time_point when) override;
  void synced(const SyncReport& report) override;

  uint16_t healthz_port() const { return healthz_port_; }
  uint16_t metrics_port() const { return metrics_port_; }
  bool health_check_open(uint16_t port) const { return listeners_.is_open(hc_key(port)); }

  // Bodies and codes as served (also for tests without sockets).
  HttpReply healthz_reply(std::chrono::steady_clock::time_point now) const;
  HttpReply service_reply(uint16_t port) const;

 private:
  explicit ProxyHttpServer(ProxyHttpOptions options) : opts_(std::move(options)) {}
  static std::string hc_key(uint16_t port) { return "hc/" + std::to_string(port); }
  bool healthy(std::chrono::steady_clock::time_point now) const;  // mu_ held
  void open_health_check(uint16_t port);

  ProxyHttpOptions opts_;
  ProxyMetrics metrics_;
  mutable std::mutex mu_;
  HealthServices health_;
  std::optional<std::chrono::steady_clock::time_point> pending_since_;
  std::optional<std::chrono::system_clock::time_point> last_synced_;
  uint64_t listen_failures_ = 0;
  uint16_t healthz_port_ = 0, metrics_port_ = 0;
  HttpListeners listeners_;  // last: its thread stops before the state it reads goes away
};

}  // namespace podnet::proxy
