#include "policy/kernel.h"

namespace podnet::policy {

Result<NftPolicyKernel> NftPolicyKernel::open() {
  PODNET_TRY(nft, nft::Nft::open());
  return NftPolicyKernel(std::move(nft));
}

}  // namespace podnet::policy
