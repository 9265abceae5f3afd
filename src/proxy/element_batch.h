// Writes element operations on podnet's sets and maps, and the rules of the shared chains, as one
// nf_tables netlink batch (one atomic transaction) built with libnftnl: no nft text to parse.
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "proxy/ruleset.h"
#include "proxy/state.h"
#include "proxy/types.h"

namespace podnet::proxy {

class ElementBatchWriter {
 public:
  // A NETLINK_NETFILTER socket in the calling thread's network namespace.
  static Result<ElementBatchWriter> open();
  // Writes the batch part of `tx` (see Transaction) as one kernel transaction.
  Status apply(const Transaction& tx, const RulesetConfig& cfg);

 private:
  Status send(const Transaction& tx, const RulesetConfig& cfg, size_t& bytes);
  explicit ElementBatchWriter(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  uint32_t seq_ = 1;
};

// The key and value bytes of an element as the kernel stores them (each concatenated field padded
// to 4 bytes, addresses and ports in network order, numgen indices in host order). Exposed for tests.
struct ElementBytes {
  uint8_t key[40];
  uint32_t key_len = 0;
  uint8_t data[24];
  uint32_t data_len = 0;
};
ElementBytes encode_element(const ElementOp& op);

}  // namespace podnet::proxy
