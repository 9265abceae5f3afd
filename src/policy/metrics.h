// Prometheus text for the agent's NetworkPolicy engine (served on the embedded proxy's /metrics):
// sync counts and durations from the Enforcer, denied and per-rule allowed packets from the
// table's named counters; and the per-rule counters as the node API serves them.
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

struct CounterValue {
  uint64_t packets = 0, bytes = 0;
};

struct DeniedCounters {
  uint64_t ingress = 0, egress = 0, pending = 0;  // packets
  std::map<std::string, CounterValue> rules;      // per-rule counter (r-N) -> what it counted
};

// Reads the named counters of `table inet podnet-policy` (zeros when there is no table): one
// `list counters`, whose size follows the rules, never the sets' elements.
Result<DeniedCounters> read_denied(nft::Nft& nft);
// The same from a `list counters` JSON listing (exposed for tests).
Result<DeniedCounters> denied_from_json(std::string_view listing);

// One policy rule's counter on this node: the packets of new connections it was the first rule to
// allow (for any local pod it selects). A rule of a policy selecting no local pod has none.
struct RuleCounter {
  RuleRef rule;
  uint64_t packets = 0, bytes = 0;
};
// The rules with a counter (TableState::counters), of one namespace and policy name when given
// (empty: all), in RuleRef order.
std::vector<RuleCounter> rule_counters(const std::map<std::string, RuleRef>& counters,
                                       const DeniedCounters& d, std::string_view ns = {},
                                       std::string_view name = {});
// The rules of the policies selecting the local pod at `ip` (text), with their counters: what
// `podnet trace` shows for a pod. Empty for an address no policy selects.
std::vector<RuleCounter> pod_counters(const TableState& t, const DeniedCounters& d, const std::string& ip);
// The node API's answer: {"counters":[{"namespace","policy","direction","rule","packets","bytes"}...]}.
std::string rule_counters_json(const std::vector<RuleCounter>& counters);

// `a`: the pod runner's waits for new pods' rules and the denied-connection log (feed.h).
// `counters` (TableState::counters) names the rules whose counters d.rules holds.
std::string prometheus_text(const EnforcerMetrics& m, const DeniedCounters& d, const AdmitMetrics& a = {},
                            const std::map<std::string, RuleRef>& counters = {});

}  // namespace podnet::policy
