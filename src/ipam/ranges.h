// Internal to podnet_ipam: range-set arithmetic shared by allocation, STATUS and validation.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "ipam/ipam.h"

namespace podnet::ipam {

// "10.1.0.1-10.1.0.254,10.2.0.1-10.2.0.254", the form host-local's messages use.
std::string to_string(const Range& r);
std::string to_string(const RangeSet& set);

// The range of the set whose start..end holds `a`, or nullptr.
const Range* range_for(const RangeSet& set, const IpAddress& a);

// The gateway, the network address and the IPv4 broadcast are never handed out, even when an
// explicit rangeStart/rangeEnd includes them. Returns what the address is, or nullptr.
const char* special_address(const Range& r, const IpAddress& a);

// Walks a canonical range set round-robin like host-local's RangeIter: starts just after `last`
// when it lies in the set (so a freed address is not reused at once), otherwise at the first
// range's start, and yields every allocatable address once.
class Cursor {
 public:
  Cursor(const RangeSet& set, const std::optional<IpAddress>& last);
  struct Candidate {
    const Range* range;
    IpAddress addr;
  };
  std::optional<Candidate> next();

 private:
  void advance();

  const RangeSet& set_;
  size_t idx_ = 0;
  IpAddress pos_;
  size_t begin_idx_ = 0;
  IpAddress begin_;
  bool started_ = false;
  bool done_ = false;
};

}  // namespace podnet::ipam
