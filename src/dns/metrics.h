// The DNS server's counters under CoreDNS's metric names, so dashboards and alerts made for
// CoreDNS (and NodeLocal DNSCache) work unchanged: requests by protocol/family/type, responses by
// rcode, cache hits and misses, request duration. Lock-free counters, read as Prometheus text.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace podnet::dns {

class DnsMetrics {
 public:
  static constexpr size_t kTypes = 10;    // A AAAA SRV PTR CNAME TXT MX NS SOA other
  static constexpr size_t kRcodes = 24;   // extended rcodes up to BADCOOKIE
  static constexpr size_t kBuckets = 16;  // CoreDNS: 0.25 ms * 2^i

  explicit DnsMetrics(std::string server = "dns://:53") : server_(std::move(server)) {}
  void set_server(std::string server) { server_ = std::move(server); }

  void request(bool tcp, bool v6, uint16_t qtype);
  void response(uint16_t rcode, double seconds);
  void cache_hit(bool denial) {
    (denial ? cache_denial_hits_ : cache_success_hits_).fetch_add(1, std::memory_order_relaxed);
  }
  void cache_miss() { cache_misses_.fetch_add(1, std::memory_order_relaxed); }
  void set_cache_entries(uint64_t n) { cache_entries_.store(n, std::memory_order_relaxed); }
  void malformed() { malformed_.fetch_add(1, std::memory_order_relaxed); }
  void forwarding_loop() { loops_.fetch_add(1, std::memory_order_relaxed); }
  void upstream_spoof() { spoofed_.fetch_add(1, std::memory_order_relaxed); }

  uint64_t requests() const;
  uint64_t responses(uint16_t rcode) const { return rcode < kRcodes ? responses_[rcode].load() : 0; }
  uint64_t cache_hits() const { return cache_success_hits_.load() + cache_denial_hits_.load(); }
  uint64_t loops() const { return loops_.load(); }
  uint64_t spoofed() const { return spoofed_.load(); }

  std::string prometheus_text() const;

 private:
  using Counter = std::atomic<uint64_t>;
  std::string server_;
  std::array<Counter, 2 * 2 * kTypes> requests_{};  // [tcp][v6][type]
  std::array<Counter, kRcodes> responses_{};
  std::array<Counter, kBuckets + 1> duration_{};  // per bucket, last = +Inf
  std::atomic<uint64_t> duration_sum_ns_{0};
  Counter cache_success_hits_{0}, cache_denial_hits_{0}, cache_misses_{0}, cache_entries_{0};
  Counter malformed_{0}, loops_{0}, spoofed_{0};
};

}  // namespace podnet::dns
