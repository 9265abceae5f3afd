#include "dns/metrics.h"

#include <cstdio>

#include "dns/knot.h"

namespace podnet::dns {

namespace {
constexpr const char* kTypeNames[DnsMetrics::kTypes] = {"A",   "AAAA", "SRV", "PTR", "CNAME",
                                                        "TXT", "MX",   "NS",  "SOA", "other"};
size_t type_index(uint16_t t) {
  switch (t) {
    case KNOT_RRTYPE_A:
      return 0;
    case KNOT_RRTYPE_AAAA:
      return 1;
    case KNOT_RRTYPE_SRV:
      return 2;
    case KNOT_RRTYPE_PTR:
      return 3;
    case KNOT_RRTYPE_CNAME:
      return 4;
    case KNOT_RRTYPE_TXT:
      return 5;
    case KNOT_RRTYPE_MX:
      return 6;
    case KNOT_RRTYPE_NS:
      return 7;
    case KNOT_RRTYPE_SOA:
      return 8;
    default:
      return 9;
  }
}
constexpr const char* kRcodeNames[DnsMetrics::kRcodes] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
    "BADVERS", "BADKEY",  "BADTIME",  "BADMODE",  "BADNAME", "BADALG",  "BADTRUNC", "BADCOOKIE"};
double bucket_bound(size_t i) {
  return 0.00025 * static_cast<double>(1u << i);
}
}  // namespace

void DnsMetrics::request(bool tcp, bool v6, uint16_t qtype) {
  requests_[(tcp ? 2 * kTypes : 0) + (v6 ? kTypes : 0) + type_index(qtype)].fetch_add(
      1, std::memory_order_relaxed);
}

void DnsMetrics::response(uint16_t rcode, double seconds) {
  responses_[rcode < kRcodes ? rcode : 15].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBuckets && seconds > bucket_bound(b)) ++b;
  duration_[b].fetch_add(1, std::memory_order_relaxed);
  duration_sum_ns_.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

uint64_t DnsMetrics::requests() const {
  uint64_t n = 0;
  for (const auto& c : requests_) n += c.load(std::memory_order_relaxed);
  return n;
}

std::string DnsMetrics::prometheus_text() const {
  std::string out;
  char line[512];
  const std::string srv = "server=\"" + server_ + "\"";
  out +=
      "# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n"
      "# TYPE coredns_dns_requests_total counter\n";
  for (int tcp = 0; tcp < 2; ++tcp)
    for (int v6 = 0; v6 < 2; ++v6)
      for (size_t t = 0; t < kTypes; ++t) {
        uint64_t n = requests_[tcp * 2 * kTypes + v6 * kTypes + t].load(std::memory_order_relaxed);
        if (!n) continue;
        std::snprintf(line, sizeof line,
                      "coredns_dns_requests_total{%s,zone=\".\",view=\"\",proto=\"%s\",family=\"%d\",type=\"%"
                      "s\"} %llu\n",
                      srv.c_str(), tcp ? "tcp" : "udp", v6 ? 2 : 1, kTypeNames[t],
                      static_cast<unsigned long long>(n));
        out += line;
      }
  out +=
      "# HELP coredns_dns_responses_total Counter of response status codes.\n"
      "# TYPE coredns_dns_responses_total counter\n";
  for (size_t r = 0; r < kRcodes; ++r) {
    uint64_t n = responses_[r].load(std::memory_order_relaxed);
    if (!n && r != 0 && r != 2 && r != 3) continue;
    std::snprintf(line, sizeof line,
                  "coredns_dns_responses_total{%s,zone=\".\",view=\"\",rcode=\"%s\",plugin=\"\"} %llu\n",
                  srv.c_str(), kRcodeNames[r], static_cast<unsigned long long>(n));
    out += line;
  }
  out +=
      "# HELP coredns_dns_request_duration_seconds Histogram of the time (in seconds) each request took.\n"
      "# TYPE coredns_dns_request_duration_seconds histogram\n";
  uint64_t cum = 0;
  for (size_t b = 0; b <= kBuckets; ++b) {
    cum += duration_[b].load(std::memory_order_relaxed);
    if (b < kBuckets)
      std::snprintf(line, sizeof line,
                    "coredns_dns_request_duration_seconds_bucket{%s,zone=\".\",view=\"\",le=\"%g\"} %llu\n",
                    srv.c_str(), bucket_bound(b), static_cast<unsigned long long>(cum));
    else
      std::snprintf(line, sizeof line,
                    "coredns_dns_request_duration_seconds_bucket{%s,zone=\".\",view=\"\",le=\"+Inf\"} %llu\n",
                    srv.c_str(), static_cast<unsigned long long>(cum));
    out += line;
  }
  std::snprintf(line, sizeof line,
                "coredns_dns_request_duration_seconds_sum{%s,zone=\".\",view=\"\"} %.9f\n"
                "coredns_dns_request_duration_seconds_count{%s,zone=\".\",view=\"\"} %llu\n",
                srv.c_str(), static_cast<double>(duration_sum_ns_.load()) / 1e9, srv.c_str(),
                static_cast<unsigned long long>(cum));
  out += line;
  auto counter = [&](const char* name, const char* help, const std::string& labels, uint64_t v,
                     const char* type) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    out += std::string(name) + "{" + labels + "} " + std::to_string(v) + "\n";
  };
  out +=
      "# HELP coredns_cache_hits_total The count of cache hits.\n# TYPE coredns_cache_hits_total counter\n";
  out += "coredns_cache_hits_total{" + srv + ",type=\"success\",view=\"\",zones=\".\"} " +
         std::to_string(cache_success_hits_.load()) + "\n";
  out += "coredns_cache_hits_total{" + srv + ",type=\"denial\",view=\"\",zones=\".\"} " +
         std::to_string(cache_denial_hits_.load()) + "\n";
  counter("coredns_cache_misses_total", "The count of cache misses.", srv + ",view=\"\",zones=\".\"",
          cache_misses_.load(), "counter");
  counter("coredns_cache_entries", "The number of elements in the cache.",
          srv + ",type=\"all\",view=\"\",zones=\".\"", cache_entries_.load(), "gauge");
  counter("podnet_dns_malformed_total", "Queries dropped or refused as malformed.", srv, malformed_.load(),
          "counter");
  counter("podnet_dns_forwarding_loops_total", "Forwarded queries that came back to this server.", srv,
          loops_.load(), "counter");
  counter("podnet_dns_upstream_rejected_replies_total",
          "Upstream replies dropped for a wrong ID or question (spoofing attempts or stale replies).", srv,
          spoofed_.load(), "counter");
  return out;
}

}  // namespace podnet::dns
