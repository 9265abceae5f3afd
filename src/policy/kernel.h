// The policy engine's only door to the kernel: run one nft transaction in the node's namespace.
// An interface so the Enforcer is unit-tested with a fake (tests/policy); NftPolicyKernel is real.
#pragma once

#include <string_view>

#include "common/error.h"
#include "nft/nft.h"

namespace podnet::policy {

class PolicyKernel {
 public:
  virtual ~PolicyKernel() = default;
  virtual Status apply(std::string_view nft_commands) = 0;  // atomic: all or nothing
};

class NftPolicyKernel final : public PolicyKernel {
 public:
  static Result<NftPolicyKernel> open();
  Status apply(std::string_view nft_commands) override { return nft_.run(nft_commands); }

 private:
  explicit NftPolicyKernel(nft::Nft nft) : nft_(std::move(nft)) {}
  nft::Nft nft_;
};

}  // namespace podnet::policy
