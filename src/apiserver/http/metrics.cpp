// Label values are escaped as the exposition format requires (backslash, quote, newline); bucket
// bounds are kube-apiserver's for requests and finer ones for storage, which is mostly sub-ms.
#include "apiserver/http/metrics.h"

#include <cstdio>

namespace podnet::apiserver {
namespace {

const std::vector<double> kRequestBuckets{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2,
                                          3,     4,     5,    6,   8,   10,  15,  20,  30,  45,   60};
const std::vector<double> kStorageBuckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                          0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string request_labels(const RequestLabels& l) {
  return "group=\"" + escape(l.group) + "\",resource=\"" + escape(l.resource) + "\",subresource=\"" +
         escape(l.subresource) + "\",verb=\"" + escape(l.verb) + "\",version=\"" + escape(l.version) + "\"";
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void Histogram::observe(double value) {
  for (size_t i = 0; i < bounds_->size(); ++i)
    if (value <= (*bounds_)[i]) ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i < bounds_->size(); ++i)
    out += name + "_bucket{" + labels + sep + "le=\"" + number((*bounds_)[i]) + "\"} " +
           std::to_string(counts_[i]) + "\n";
  out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(count_) + "\n";
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + number(sum_) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

void Metrics::observe_request(const RequestLabels& labels, int code, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{labels, code}];
  request_latency_.try_emplace(labels, &kRequestBuckets).first->second.observe(seconds);
}

void Metrics::observe_storage(const std::string& operation, const std::string& resource, double seconds) {
  std::lock_guard lock(mu_);
  storage_latency_.try_emplace({operation, resource}, &kStorageBuckets).first->second.observe(seconds);
}

void Metrics::watch_opened(const RequestLabels& labels) {
  std::lock_guard lock(mu_);
  ++watchers_[labels];
}

void Metrics::watch_closed(const RequestLabels& labels) {
  std::lock_guard lock(mu_);
  --watchers_[labels];
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  header(out, "apiserver_request_total", "counter",
         "Counter of apiserver requests broken out for each verb, API resource and HTTP response code.");
  for (const auto& [key, n] : requests_)
    out += "apiserver_request_total{code=\"" + std::to_string(key.second) + "\"," +
           request_labels(key.first) + "} " + std::to_string(n) + "\n";
  header(out, "apiserver_request_duration_seconds", "histogram",
         "Response latency distribution in seconds for each verb and resource (watches: until the "
         "stream starts).");
  for (const auto& [labels, h] : request_latency_)
    h.render(out, "apiserver_request_duration_seconds", request_labels(labels));
  header(out, "apiserver_registered_watchers", "gauge",
         "Number of currently open watches for a given resource.");
  for (const auto& [labels, n] : watchers_)
    out += "apiserver_registered_watchers{group=\"" + escape(labels.group) + "\",resource=\"" +
           escape(labels.resource) + "\",version=\"" + escape(labels.version) + "\"} " + std::to_string(n) +
           "\n";
  header(out, "apiserver_storage_request_duration_seconds", "histogram",
         "Storage (SQLite) request latency in seconds for each operation and resource.");
  for (const auto& [key, h] : storage_latency_)
    h.render(out, "apiserver_storage_request_duration_seconds",
             "operation=\"" + escape(key.first) + "\",resource=\"" + escape(key.second) + "\"");
  return out;
}

}  // namespace podnet::apiserver
