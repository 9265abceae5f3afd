// NetworkPolicy planning for one node: policies + all pods + namespaces -> the contents of
// `table inet podnet-policy` (docs/networkpolicy.md). Pure computation, no kernel: every set and
// verdict map with its elements, and the small per-class chains the maps jump to.
//
// Shape (why per-packet cost is O(1)): a local pod's allowed traffic is keyed by
// `pod address . protocol . port` in one interval verdict map per direction, whose value jumps to
// the chain of an *allow class*: the union of the peers (selectors, ipBlocks) that the rules
// covering that port name. The class chain makes one interval-set lookup of the peer address.
// Memory follows local pods x their port ranges plus classes x their members, never pod x pod.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/ip.h"
#include "policy/model.h"

namespace podnet::policy {

inline constexpr const char* kTable = "podnet-policy";

// One set or map of the table. Elements: key -> value ("" for a plain set, a verdict for a map).
struct SetState {
  bool is_map = false;
  std::string decl;  // "type ipv4_addr; flags interval;"
  std::map<std::string, std::string> elements;
  bool operator==(const SetState&) const = default;
};

struct TableState {
  std::vector<IpPrefix> own_ranges;  // this node's pod ranges (the pending-pod rules name them)
  std::map<std::string, SetState> sets;
  std::map<std::string, std::vector<std::string>> chains;  // per-class chains: name -> rules
  // Local pod address -> the policies selecting it (for denial logs and `explain`).
  std::map<std::string, std::vector<std::string>> selected_by;
  // Class chain (ic-N, ec-N, en-N) -> the policies whose rules jump to it: its accept counters are
  // the per-rule counters /metrics shows (a class is shared by every rule naming the same peers).
  std::map<std::string, std::set<std::string>> chain_policies;
  size_t element_count() const;
  bool operator==(const TableState&) const = default;
};

struct PlannerInput {
  std::string node;
  std::vector<IpPrefix> own_ranges;
  const std::map<std::string, Pod>* pods = nullptr;
  const std::map<std::string, Namespace>* namespaces = nullptr;
  const std::map<std::string, NetworkPolicy>* policies = nullptr;
};

class Planner {
 public:
  // Class and named-class numbers stay with their content from one plan to the next, so an
  // update changes elements, not chains; numbers are never reused within a process.
  TableState plan(const PlannerInput& in);

 private:
  int class_id(std::map<std::string, int>& ids, int& next, const std::string& key);
  std::map<std::string, int> class_ids_, named_ids_;
  int next_class_ = 1, next_named_ = 1;
};

}  // namespace podnet::policy
