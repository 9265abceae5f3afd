// Hands out equal-sized sub-prefixes of a range, lowest free first: node pod CIDRs (/24s of the
// cluster CIDR) and LoadBalancer addresses (/32s of the pool). Memory only: owners rebuild it from
// the objects that hold the prefixes, so it can never disagree with the API.
#pragma once

#include <cstdint>
#include <optional>
#include <set>

#include "common/error.h"
#include "common/ip.h"

namespace podnet::controllers {

class PrefixAllocator {
 public:
  // Fails when sub_len is shorter than the range or the range holds more than 2^32 sub-prefixes.
  // `skip_ends`: never hand out the first and last sub-prefix (IPv4 network and broadcast addresses).
  static Result<PrefixAllocator> make(const IpPrefix& range, int sub_len, bool skip_ends = false);

  std::optional<IpPrefix> allocate();
  // Marks a given prefix as used; false when it is outside the range, misaligned or already used.
  bool occupy(const IpPrefix& prefix);
  void release(const IpPrefix& prefix);
  bool contains(const IpPrefix& prefix) const;  // in range, aligned, right size
  uint64_t free_count() const;
  const IpPrefix& range() const { return range_; }

 private:
  PrefixAllocator(IpPrefix range, int sub_len, uint64_t first, uint64_t count);
  std::optional<uint64_t> index_of(const IpPrefix& prefix) const;
  IpPrefix at(uint64_t index) const;

  IpPrefix range_;
  int sub_len_;
  uint64_t first_, count_;  // usable indexes: [first_, first_ + count_)
  std::set<uint64_t> used_;
  uint64_t hint_ = 0;  // where the search for a free index starts
};

}  // namespace podnet::controllers
