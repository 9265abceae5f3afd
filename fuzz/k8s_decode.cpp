// What the agent and `podnet proxy` read from the API: Service and EndpointSlice JSON decoded into
// the datapath's model. Every input is decoded as both.
#include "fuzz_target.h"
#include "k8s/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  std::string_view text = podnet::fuzz::as_text(data, size);
  (void)podnet::k8s::decode_service(text);
  (void)podnet::k8s::decode_endpoint_slice(text);
  return 0;
}
