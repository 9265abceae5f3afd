// What NFLOG hands the agent's denied-connection log: a packet's network header (from any pod or
// the outside, so untrusted) behind one of the deny rules' prefixes. The first input byte picks
// the prefix, the rest is the packet.
#include "fuzz_target.h"
#include "policy/denied_packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > podnet::fuzz::kMaxInput) return 0;
  static const char* const kPrefixes[] = {"podnet-policy ingress ", "podnet-policy egress ", "podnet-policy ",
                                          "other "};
  const char* prefix = kPrefixes[data[0] % 4];
  if (auto d = podnet::policy::decode_denied(prefix, {data + 1, size - 1})) {
    volatile size_t n = d->src.to_string().size() + d->dst.to_string().size() +
                        podnet::policy::protocol_name(d->protocol).size() + d->sport + d->dport;
    (void)n;
  }
  return 0;
}
