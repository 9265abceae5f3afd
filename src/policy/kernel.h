// The policy engine's only door to the kernel: run one nft transaction in the node's namespace.
// An interface so the Enforcer is unit-tested with a fake (tests/policy); NftPolicyKernel is real.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/error.h"
#include "common/fd.h"
#include "nft/nft.h"

namespace podnet::policy {

class PolicyKernel {
 public:
  virtual ~PolicyKernel() = default;
  virtual Status apply(std::string_view nft_commands) = 0;  // atomic: all or nothing
};

class NftPolicyKernel final : public PolicyKernel {
 public:
  // A transaction at least this long (a whole table, a large policy change) is followed by a fresh
  // libnftables context: see apply().
  static constexpr size_t kFreshContextBytes = 64 * 1024;

  // Bound to the network namespace of the calling thread.
  static Result<NftPolicyKernel> open();
  // libnftables keeps every table, set and element a successful transaction defined in its
  // context's cache (so later commands of the same buffer can name them) until a later command
  // finds the ruleset changed, and even then frees only part of it. A whole table at 10,000
  // policies left ~100 MB of parsed elements there for the agent's life. After a large
  // transaction the context is replaced by a fresh one in the same namespace (~1 ms).
  // Apply on a thread in open()'s namespace.
  Status apply(std::string_view nft_commands) override;
  size_t fresh_contexts() const { return fresh_contexts_; }  // how many times (tests)

 private:
  NftPolicyKernel(nft::Nft nft, UniqueFd netns) : nft_(std::move(nft)), netns_(std::move(netns)) {}
  Result<nft::Nft> open_in_namespace() const;
  nft::Nft nft_;
  UniqueFd netns_;  // the namespace open() ran in
  size_t fresh_contexts_ = 0;
};

}  // namespace podnet::policy
