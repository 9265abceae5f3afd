// nftables trace events about ONE probe (`podnet trace --live`): a podnet-owned table in the
// calling thread's network namespace (inet podnet-probe-<id>) whose prerouting chain, ahead of
// every other hook user, sets `meta nftrace` on the probe's packets only (its source address and
// fresh source port, and the replies to them), and a netlink socket on NFNLGRP_NFTRACE that the
// kernel queues the events in until take() reads them (libnftnl's nftnl_trace parses them). The
// destructor deletes the table; the socket's receive buffer bounds the memory.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "common/ip.h"

namespace podnet::agent {

inline constexpr std::string_view kProbeTablePrefix = "podnet-probe-";

class NftTrace {
 public:
  // `table` is kProbeTablePrefix + an id; src must be IPv4.
  static Result<std::unique_ptr<NftTrace>> arm(const std::string& table, const IpAddress& src, uint16_t sport,
                                               uint8_t proto);
  ~NftTrace();

  // The events queued so far, grouped per traced packet in the order the kernel sent them:
  // [{"packet": id, "family", "table", "chain", "type": "rule"|"return"|"policy", "handle",
  //   "verdict", "jump", "iif", "oif", "reply", "src", "dst", "rule": {comment, expr}}...] (at most max).
  boost::json::array take(size_t max, uint64_t& overruns);

 private:
  NftTrace(std::string table, UniqueFd sock, IpAddress src, uint16_t sport, uint8_t proto)
      : table_(std::move(table)), sock_(std::move(sock)), src_(src), sport_(sport), proto_(proto) {}
  std::string table_;
  UniqueFd sock_;
  IpAddress src_;
  uint16_t sport_;
  uint8_t proto_;
};

// Deletes every inet podnet-probe-* table of the calling thread's namespace (left by an agent
// that died mid-probe). Returns how many.
size_t remove_stale_probe_tables();

}  // namespace podnet::agent
