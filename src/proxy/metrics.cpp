// Buckets follow kube-proxy's: sync durations exponential from 1 ms, programming latency from
// 250 ms to 30 min with the fine steps near the common values.
#include "proxy/metrics.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace podnet::proxy {
namespace {

std::vector<double> exponential(double start, double factor, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i, start *= factor) out.push_back(start);
  return out;
}

std::vector<double> programming_buckets() {
  std::vector<double> out = {0.25, 0.5};
  for (int s = 1; s <= 59; ++s) out.push_back(s);
  for (int s = 60; s < 120; s += 5) out.push_back(s);
  for (int s = 120; s <= 300; s += 30) out.push_back(s);
  for (int s = 600; s <= 1800; s += 300) out.push_back(s);
  return out;
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string with(const std::string& labels, const std::string& extra) {
  if (labels.empty()) return "{" + extra + "}";
  return "{" + labels + "," + extra + "}";
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void gauge(std::string& out, const char* name, const char* help, double v) {
  header(out, name, "gauge", help);
  out += std::string(name) + " " + num(v) + "\n";
}

}  // namespace

void Histogram::observe(double v) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  if (it != bounds_.end()) ++counts_[it - bounds_.begin()];
  ++count_;
  sum_ += v;
}

std::string Histogram::text(const std::string& name, const std::string& labels) const {
  std::string out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket" + with(labels, "le=\"" + num(bounds_[i]) + "\"") + " " +
           std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket" + with(labels, "le=\"+Inf\"") + " " + std::to_string(count_) + "\n";
  const std::string l = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + l + " " + num(sum_) + "\n";
  out += name + "_count" + l + " " + std::to_string(count_) + "\n";
  return out;
}

ProxyMetrics::ProxyMetrics()
    : full_(exponential(0.001, 2, 15)),
      partial_(exponential(0.001, 2, 15)),
      programming_(programming_buckets()) {}

void ProxyMetrics::record(const SyncReport& r) {
  std::lock_guard l(mu_);
  if (!r.ok) {
    ++failed_syncs_;
    return;
  }
  (r.full ? full_ : partial_).observe(r.took.count());
  ++(r.full ? full_syncs_ : partial_syncs_);
  for (double s : r.programming_latencies) programming_.observe(std::max(0.0, s));
  last_sync_at_ = std::chrono::duration<double>(r.at.time_since_epoch()).count();
  conntrack_deleted_ += r.conntrack_deleted;
  services_ = r.services;
  frontends_ = r.frontends;
  endpoints_ = r.endpoints;
  elements_ = r.elements;
  chains_ = r.chains;
}

void ProxyMetrics::set_health_check_listen_failures(uint64_t n) {
  std::lock_guard l(mu_);
  health_check_listen_failures_ = n;
}

std::string ProxyMetrics::prometheus_text() const {
  std::lock_guard l(mu_);
  std::string out;
  const char* sync = "kubeproxy_sync_proxy_rules_duration_seconds";
  header(out, sync, "histogram", "SyncProxyRules latency in seconds, by sync kind (full or partial).");
  out += full_.text(sync, "sync=\"full\"");
  out += partial_.text(sync, "sync=\"partial\"");
  const char* prog = "kubeproxy_network_programming_duration_seconds";
  header(out, prog, "histogram",
         "In-cluster network programming latency in seconds: from an EndpointSlice change (its "
         "last-change-trigger-time, else its arrival) to the sync that wrote it.");
  out += programming_.text(prog, "");
  gauge(out, "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
        "The last time proxy rules were successfully synced (unix seconds).", last_sync_at_);
  const char* syncs = "podnet_proxy_syncs_total";
  header(out, syncs, "counter", "Syncs by result.");
  out += std::string(syncs) + "{result=\"full\"} " + std::to_string(full_syncs_) + "\n";
  out += std::string(syncs) + "{result=\"partial\"} " + std::to_string(partial_syncs_) + "\n";
  out += std::string(syncs) + "{result=\"failed\"} " + std::to_string(failed_syncs_) + "\n";
  gauge(out, "podnet_proxy_services", "Services the proxy programs.", static_cast<double>(services_));
  gauge(out, "podnet_proxy_frontends", "Service addresses (IP, protocol, port) programmed.",
        static_cast<double>(frontends_));
  gauge(out, "podnet_proxy_endpoints", "Endpoints programmed, summed over frontends.",
        static_cast<double>(endpoints_));
  gauge(out, "podnet_proxy_nftables_elements", "Elements in the proxy's nftables sets and maps.",
        static_cast<double>(elements_));
  gauge(out, "podnet_proxy_nftables_chains", "Shared endpoint-picking chains in use.",
        static_cast<double>(chains_));
  header(out, "podnet_proxy_conntrack_entries_deleted_total", "counter",
         "Stale UDP conntrack entries deleted.");
  out += "podnet_proxy_conntrack_entries_deleted_total " + std::to_string(conntrack_deleted_) + "\n";
  header(out, "podnet_proxy_health_check_listen_failures_total", "counter",
         "healthCheckNodePorts that could not be listened on.");
  out += "podnet_proxy_health_check_listen_failures_total " + std::to_string(health_check_listen_failures_) +
         "\n";
  return out;
}

}  // namespace podnet::proxy
