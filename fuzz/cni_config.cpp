// podnet-cni's stdin: the network configuration (bridge keys, built-in IPAM, runtime capabilities,
// prevResult) as parse_netconf checks it before any change is made, then CNI_ARGS IP= requests
// applied to a config that parsed.
#include "cni/config.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  auto conf = podnet::cni::parse_netconf(podnet::fuzz::as_text(data, size));
  if (!conf) return 0;
  (void)podnet::cni::apply_cni_args(*conf, "IgnoreUnknown=1;IP=10.244.1.7,fd00::7");
  return 0;
}
