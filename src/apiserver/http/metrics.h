// The API server's Prometheus metrics: requests by verb, resource and code with latency
// histograms, open watches, and storage latency. One Metrics object, owned by the server and
// passed to what records into it; rendered in the text exposition format for GET /metrics.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace podnet::apiserver {

// Cumulative buckets as Prometheus wants them: counts[i] is the number of observations <= bounds[i].
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds) : bounds_(bounds), counts_(bounds->size(), 0) {}
  void observe(double value);
  // _bucket/_sum/_count lines for `name` with `labels` (`a="b",c="d"`, may be empty).
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  const std::vector<double>* bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

struct RequestLabels {
  std::string verb;  // kube's metric verbs: GET LIST WATCH POST PUT PATCH APPLY DELETE DELETECOLLECTION
  std::string group, version, resource, subresource;
  auto operator<=>(const RequestLabels&) const = default;
};

class Metrics {
 public:
  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void observe_request(const RequestLabels& labels, int code, double seconds);
  void observe_storage(const std::string& operation, const std::string& resource, double seconds);
  void watch_opened(const RequestLabels& labels);
  void watch_closed(const RequestLabels& labels);

  std::string render() const;

 private:
  using StorageKey = std::pair<std::string, std::string>;  // operation, resource
  mutable std::mutex mu_;
  std::map<std::pair<RequestLabels, int>, uint64_t> requests_;
  std::map<RequestLabels, Histogram> request_latency_;
  std::map<RequestLabels, int64_t> watchers_;
  std::map<StorageKey, Histogram> storage_latency_;
};

}  // namespace podnet::apiserver
