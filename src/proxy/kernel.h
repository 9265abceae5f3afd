// The proxy's only door to the kernel: apply a Transaction, list the chains in podnet's tables.
// An interface so the Proxier is tested without root; NftProxyKernel is the real one.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "nft/nft.h"
#include "proxy/element_batch.h"
#include "proxy/state.h"

namespace podnet::proxy {

class ProxyKernel {
 public:
  virtual ~ProxyKernel() = default;
  virtual Status apply(const Transaction& tx) = 0;
  // Chain names in podnet's proxy tables (base and shards), by family and table (empty when the
  // tables do not exist).
  virtual Result<ExistingChains> list_chains() = 0;
};

// Text parts through libnftables, the element batch through libnftnl (see docs/proxy.md). Both
// sockets live in the network namespace of the thread that called open().
class NftProxyKernel : public ProxyKernel {
 public:
  static Result<NftProxyKernel> open(RulesetConfig cfg);
  Status apply(const Transaction& tx) override;
  Result<ExistingChains> list_chains() override;

 private:
  NftProxyKernel(nft::Nft nft, ElementBatchWriter writer, RulesetConfig cfg)
      : nft_(std::move(nft)), writer_(std::move(writer)), cfg_(std::move(cfg)) {}
  void drop_nft_cache();
  nft::Nft nft_;
  ElementBatchWriter writer_;
  RulesetConfig cfg_;
  ino_t netns_ = 0;  // where nft_ and writer_ were opened
};

// Deletes podnet's proxy tables, the base and every shard table (of any shard count), in both
// families, as one transaction; tables that do not exist are fine.
Status remove_proxy_tables(nft::Nft& nft, const RulesetConfig& cfg);

}  // namespace podnet::proxy
