// The proxy's Prometheus metrics, in kube-proxy's names where kube-proxy has one: sync durations
// (full and partial), network programming latency, last sync time, object and element counts.
// Fed from SyncReports; read as the Prometheus text format. Thread-safe; one instance per proxy.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "proxy/sync_report.h"

namespace podnet::proxy {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}
  void observe(double v);
  // `name`_bucket / _sum / _count lines, each with `labels` ("" or `sync="full"`).
  std::string text(const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

class ProxyMetrics {
 public:
  ProxyMetrics();
  void record(const SyncReport& report);
  void set_health_check_listen_failures(uint64_t n);
  std::string prometheus_text() const;

 private:
  mutable std::mutex mu_;
  Histogram full_, partial_, programming_;
  double last_sync_at_ = 0;  // unix seconds of the last successful sync
  uint64_t full_syncs_ = 0, partial_syncs_ = 0, failed_syncs_ = 0, conntrack_deleted_ = 0;
  uint64_t health_check_listen_failures_ = 0;
  size_t services_ = 0, frontends_ = 0, endpoints_ = 0, elements_ = 0, chains_ = 0;
};

}  // namespace podnet::proxy
