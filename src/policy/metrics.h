// Prometheus text for the agent's NetworkPolicy engine (served on the embedded proxy's /metrics):
// sync counts and durations from the Enforcer, denied packets from the table's deny counters.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

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

// `a`: the pod runner's waits for new pods' rules and the denied-connection log (feed.h).
// `chain_policies` (TableState::chain_policies) labels the class chains' accept counters.
std::string prometheus_text(const EnforcerMetrics& m, const DeniedCounters& d, const AdmitMetrics& a = {},
                            const std::map<std::string, std::set<std::string>>& chain_policies = {});

}  // namespace podnet::policy
