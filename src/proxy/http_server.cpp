// Replies follow kube-proxy's pkg/proxy/healthcheck: the same JSON fields, codes and headers, so
// cloud load balancers and existing probes read podnet's answers as they read kube-proxy's.
#include "proxy/http_server.h"

#include <cstdio>
#include <vector>

#include "common/time.h"

namespace podnet::proxy {
namespace {

using tcp = boost::asio::ip::tcp;

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

HttpReply json_reply(unsigned status, std::string body) {
  HttpReply r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

}  // namespace

Result<std::unique_ptr<ProxyHttpServer>> ProxyHttpServer::start(ProxyHttpOptions options) {
  std::unique_ptr<ProxyHttpServer> server(new ProxyHttpServer(std::move(options)));
  ProxyHttpServer* self = server.get();
  if (self->opts_.healthz) {
    PODNET_TRY(port,
               self->listeners_.open("healthz", *self->opts_.healthz, [self](const std::string& target) {
                 std::string path = target.substr(0, target.find('?'));
                 if (path != "/healthz" && path != "/livez")
                   return HttpReply{404, "text/plain; charset=utf-8", "404 page not found\n", {}};
                 return self->healthz_reply(std::chrono::steady_clock::now());
               }));
    self->healthz_port_ = port;
  }
  if (self->opts_.metrics) {
    PODNET_TRY(port,
               self->listeners_.open("metrics", *self->opts_.metrics, [self](const std::string& target) {
                 if (target.substr(0, target.find('?')) != "/metrics")
                   return HttpReply{404, "text/plain; charset=utf-8", "404 page not found\n", {}};
                 std::string text = self->metrics_.prometheus_text();
                 if (self->opts_.extra_metrics) text += self->opts_.extra_metrics();
                 return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", std::move(text), {}};
               }));
    self->metrics_port_ = port;
  }
  return server;
}

bool ProxyHttpServer::healthy(std::chrono::steady_clock::time_point now) const {
  return !pending_since_ || now - *pending_since_ <= opts_.health_timeout;
}

HttpReply ProxyHttpServer::healthz_reply(std::chrono::steady_clock::time_point now) const {
  std::lock_guard l(mu_);
  const bool ok = healthy(now);
  std::string last = last_synced_ ? rfc3339(*last_synced_) : "";
  return json_reply(ok ? 200 : 503, "{\"lastUpdated\": " + json_string(last) + ",\"currentTime\": " +
                                        json_string(rfc3339(std::chrono::system_clock::now())) +
                                        ", \"nodeEligible\": true}");
}

HttpReply ProxyHttpServer::service_reply(uint16_t port) const {
  std::lock_guard l(mu_);
  auto it = health_.find(port);
  if (it == health_.end())
    return HttpReply{404, "text/plain; charset=utf-8", "no service on this port\n", {}};
  const bool proxy_ok = healthy(std::chrono::steady_clock::now());
  const auto& h = it->second;
  auto reply = json_reply(h.local_endpoints > 0 && proxy_ok ? 200 : 503,
                          "{\n\t\"service\": {\n\t\t\"namespace\": " + json_string(h.namespace_) +
                              ",\n\t\t\"name\": " + json_string(h.name) +
                              "\n\t},\n\t\"localEndpoints\": " + std::to_string(h.local_endpoints) +
                              ",\n\t\"serviceProxyHealthy\": " + (proxy_ok ? "true" : "false") + "\n}");
  reply.headers.emplace_back("X-Load-Balancing-Endpoint-Weight", std::to_string(h.local_endpoints));
  return reply;
}

void ProxyHttpServer::queued(std::chrono::steady_clock::time_point when) {
  std::lock_guard l(mu_);
  if (!pending_since_) pending_since_ = when;
}

void ProxyHttpServer::open_health_check(uint16_t port) {
  auto handler = [this, port](const std::string&) { return service_reply(port); };
  auto opened =
      listeners_.open(hc_key(port), tcp::endpoint(boost::asio::ip::address_v6::any(), port), handler);
  if (!opened && (opened.error().code == EAFNOSUPPORT || opened.error().code == EADDRNOTAVAIL))
    opened = listeners_.open(hc_key(port), tcp::endpoint(boost::asio::ip::address_v4::any(), port), handler);
  if (!opened) {
    std::lock_guard l(mu_);
    metrics_.set_health_check_listen_failures(++listen_failures_);
    opts_.log("health check port " + std::to_string(port) + ": " + opened.error().message());
  }
}

void ProxyHttpServer::synced(const SyncReport& report) {
  metrics_.record(report);
  std::vector<uint16_t> to_open, to_close;
  {
    std::lock_guard l(mu_);
    if (report.ok) {
      pending_since_.reset();
      last_synced_ = report.at;
    }
    if (report.health) {
      for (const auto& [port, _] : health_)
        if (!report.health->count(port)) to_close.push_back(port);
      for (const auto& [port, _] : *report.health)
        if (!health_.count(port)) to_open.push_back(port);
      health_ = *report.health;
    }
  }
  if (!opts_.health_checks) return;
  for (uint16_t port : to_close) listeners_.close(hc_key(port));
  for (uint16_t port : to_open) open_health_check(port);
}

}  // namespace podnet::proxy
