// The forwarder's answer cache: upstream replies kept as wire format, positive and negative
// (RFC 2308: the SOA's TTL/minimum), with TTLs capped like NodeLocal DNSCache (30 s success, 5 s
// denial) and aged on the way out; bounded by entry count (LRU). Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/lru_cache.h"

namespace podnet::dns {

class AnswerCache {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    size_t capacity = 10000;
    uint32_t max_ttl = 30;
    uint32_t max_denial_ttl = 5;
  };
  explicit AnswerCache(Options o) : opts_(o), lru_(o.capacity) {}

  // `key`: lower-case wire qname + qtype + qclass + EDNS flag (see key()).
  static std::string key(std::string_view lower_qname, uint16_t qtype, uint16_t qclass, bool edns);

  // Keeps `reply` (a validated upstream answer) when it is cacheable: NOERROR or NXDOMAIN, not
  // truncated, with a TTL to go by. Returns whether it was kept.
  bool put(const std::string& key, std::span<const uint8_t> reply, Clock::time_point now);
  // Copies the cached answer into `out` (>= its size) with TTLs aged; 0 when absent or expired.
  size_t get(const std::string& key, Clock::time_point now, uint8_t* out, bool& denial);
  size_t size() const { return lru_.size(); }

 private:
  struct Entry {
    std::vector<uint8_t> wire;
    std::vector<uint16_t> ttl_offsets;
    std::vector<uint32_t> ttls;
    Clock::time_point stored, expires;
    bool denial = false;
  };
  Options opts_;
  LruCache<std::string, Entry> lru_;
};

}  // namespace podnet::dns
