// Prometheus text for the agent's NetworkPolicy engine (served on the embedded proxy's /metrics):
// sync counts and durations from the Enforcer, denied packets from the table's deny counters.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "nft/nft.h"
#include "policy/enforcer.h"

namespace podnet::policy {

struct DeniedCounters {
  uint64_t ingress = 0, egress = 0, pending = 0;  // packets
  std::map<std::string, uint64_t> allowed;        // class chain (ic-N, ec-N, en-N) -> packets accepted
};

// Reads the counters of `table inet podnet-policy`'s deny rules (zeros when there is no table).
Result<DeniedCounters> read_denied(nft::Nft& nft);
// Sums the counters of a `list table` JSON listing, by chain (exposed for tests).
Result<DeniedCounters> denied_from_json(std::string_view listing);

// One allow class a local pod's traffic is judged by, with its accept counter: what `podnet trace`
// and the node API show for a pod. A class is shared by the rules naming the same peers, so its
// count is theirs together (the policies listed); "any peer" rules accept without a class.
struct PodClassCounter {
  std::string direction;  // "ingress" or "egress"
  std::string chain;      // ic-N, ec-N, en-N
  std::set<std::string> policies;
  uint64_t packets = 0;
};
// The classes the pod at `ip` (a local pod address, as text) jumps to, with their counters.
std::vector<PodClassCounter> pod_counters(const TableState& t, const DeniedCounters& d,
                                          const std::string& ip);

// `a`: the pod runner's waits for new pods' rules and the denied-connection log (feed.h).
// `chain_policies` (TableState::chain_policies) labels the class chains' accept counters.
std::string prometheus_text(const EnforcerMetrics& m, const DeniedCounters& d, const AdmitMetrics& a = {},
                            const std::map<std::string, std::set<std::string>>& chain_policies = {});

}  // namespace podnet::policy
