// Named counter objects of one nftables table, read with one netlink dump (NFT_MSG_GETOBJ filtered
// by table and type in the kernel, parsed with libnftnl). `nft list counters table T` reads the
// whole ruleset into libnftables' cache first: 166 requests on a node with the proxy's shards,
// seconds on a loaded machine, while this is one request and answers in about a millisecond.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/error.h"

namespace podnet::nft {

struct NamedCounter {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

// The table's counters by name, in the calling thread's network namespace. No such table: empty.
// `family` is NFPROTO_INET, NFPROTO_IPV4, ...
Result<std::map<std::string, NamedCounter>> read_counter_objects(uint8_t family, const std::string& table);

}  // namespace podnet::nft
