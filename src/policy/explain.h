// Why NetworkPolicy allows or drops one 5-tuple (`podnet trace`): the policies selecting each end
// and the rules that allow it, judged on the same decoded objects (model.h) the Planner programs
// into `inet podnet-policy`. Pure: no kernel, no API; the caller gathers the objects.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "policy/model.h"

namespace podnet::policy {

// One end of the traced tuple.
struct PolicyEnd {
  std::optional<Pod> pod;   // nullopt: not a policy subject (a node, the outside, a hostNetwork pod)
  Labels namespace_labels;  // the pod's namespace's labels
  IpAddress ip;             // the address the other end's node sees (after any masquerade)
};

#ifndef PODNET_POLICY_HAS_RULE_REF
// Temporary copy of model.h's RuleRef (np's branch adds it there): policy = "ns/name", direction =
// "ingress"|"egress", rule = index in spec.ingress / spec.egress. Removed once both are merged.
struct RuleRef {
  std::string policy;
  std::string direction;
  int rule = 0;
  auto operator<=>(const RuleRef&) const = default;
};
#endif

struct DirectionVerdict {
  std::string direction;               // "egress" (judged for the source pod) or "ingress" (destination)
  bool isolated = false;               // some policy selects the pod for this direction
  bool allowed = true;                 // not isolated, or a rule allows the tuple
  std::vector<std::string> selecting;  // the policies selecting the pod for this direction
  std::vector<RuleRef> allowed_by;     // every rule allowing the tuple, in policy then rule order
};

// `policies`: at least those of the subject's namespace (others are ignored). ingress: subject =
// destination, peer = source; egress: subject = source, peer = destination. `port` is the
// destination port; a named port resolves against the destination pod's container ports.
// A subject that is not a pod is never isolated.
DirectionVerdict explain(const std::vector<NetworkPolicy>& policies, bool ingress, const PolicyEnd& subject,
                         const PolicyEnd& peer, Protocol proto, int32_t port);

}  // namespace podnet::policy
