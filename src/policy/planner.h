// NetworkPolicy planning for one node: policies + all pods + namespaces -> the contents of
// `table inet podnet-policy` (docs/networkpolicy.md). Pure computation, no kernel: every set and
// verdict map with its elements, and the small per-class chains the maps jump to.
//
// Shape (why per-packet cost is O(1)): a local pod's allowed traffic is keyed by
// `pod address . protocol . port` in one interval verdict map per direction, whose value jumps to
// the chain of an *allow class*: the rules covering that port, in order, with their peers
// (selectors, ipBlocks). The class chain makes one map lookup of the peer address, whose value is
// the named counter of the first of those rules that allows that peer: per-rule counters at one
// lookup. Memory follows local pods x their port ranges plus classes x their members, never pod x pod.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
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
  // Class chain (ic-N, ec-N, en-N) -> the policies whose rules jump to it.
  std::map<std::string, std::set<std::string>> chain_policies;
  // Named counter objects (r-N) -> the rule each counts: the packets that rule allowed first.
  std::map<std::string, RuleRef> counters;
  size_t element_count() const;
  bool operator==(const TableState&) const = default;
};

struct PlannerInput {
  std::string node;
  std::vector<IpPrefix> own_ranges;
  const std::map<std::string, Pod>* pods = nullptr;                // by Pod::key()
  const std::map<std::string, Namespace>* namespaces = nullptr;    // by name
  const std::map<std::string, NetworkPolicy>* policies = nullptr;  // by NetworkPolicy::key()
};

// The keys whose object appeared, changed or went away since the last plan.
struct PlanChanges {
  std::set<std::string> pods, namespaces, policies;
  bool empty() const { return pods.empty() && namespaces.empty() && policies.empty(); }
};

// The part of the table an update touched: the sets and chains it changed, created or removed,
// as they were (`before`) and are (`after`). render_diff(before, after) writes exactly that change.
struct PlanDelta {
  TableState before, after;
};

class Planner {
 public:
  // The whole table from the inputs (first sync, tests). Class numbers of classes still in use
  // are kept, so a rebuild after updates gives the state the updates reached.
  const TableState& rebuild(const PlannerInput& in);
  TableState plan(const PlannerInput& in) { return rebuild(in); }
  // Applies only what `changes` touch: a pod's peer memberships (the class sets naming it), the
  // local pods whose own elements depend on it (the pod itself, the pods of a policy's namespace),
  // the pods of a namespace whose labels changed. Cost follows the change, not the table.
  // Must follow a rebuild() with the same inputs as then, modified only as `changes` say.
  PlanDelta update(const PlannerInput& in, const PlanChanges& changes);
  const TableState& state() const { return t_; }

 private:
  struct NamedDef {
    std::string peer, name;
    Protocol proto;
    int pos = 0;  // the rule's position in its class
  };
  // The rules an allow class holds, in order, with their peer keys ("*": every peer).
  using ClassRules = std::map<RuleRef, std::set<std::string>>;
  struct PodRecord {  // a subject pod as the class sets know it
    std::vector<IpAddress> ips;
    std::vector<std::string> ip_texts;  // ips as text (element keys), computed once
    std::vector<ContainerPort> ports;
    std::set<std::string> peers;
    bool operator==(const PodRecord&) const = default;
  };
  struct PeerEntry {  // one from/to element (or "*": every subject pod) and the pods it selects
    PolicyPeer def;
    std::string policy_ns;
    bool any = false;
    std::map<std::string, PodRecord*> members;  // pod key -> its record (records_)
    std::set<std::string> classes, named;       // keys of the classes naming this peer
    std::set<std::string> shared;               // keys of the shared member sets naming it
  };
  // Member element -> rule position -> how many of the class's peers at that position hold it.
  // The element's value is the counter of its lowest position (the first rule allowing it).
  using Refs = std::map<std::string, std::map<int, int>>;
  // The members of one peer set, shared by every class whose counting is uniform (its first rule
  // names every peer the class allows): plain sets cN (pods) and bN (ipBlocks, only if it names one).
  struct SharedEntry {
    int id = 0;
    std::vector<std::string> peers;
    bool blocks = false;                      // it names an ipBlock (sets bN)
    int uses = 0;                             // classes using it
    std::map<std::string, int> refs4, refs6;  // member address -> peers holding it
  };
  // An allow class: chain ic-N / ec-N. Uniform: one lookup in a shared set, counted for its first
  // rule (`shared`). Otherwise its own maps cmN (pods) and bmN (ipBlocks), address -> counter.
  struct ClassEntry {
    int id = 0;
    std::string shared;                                // the SharedEntry it looks up ("": its own maps)
    std::vector<std::string> peers;                    // its pod and ipBlock peer keys
    std::vector<std::string> counters;                 // by rule position: the rule's counter
    std::map<std::string, std::vector<int>> peer_pos;  // peer key -> positions of the rules naming it
    std::vector<std::pair<int, IpBlock>> blocks;       // (position, ipBlock) of the rules naming one
    int any_pos = -1;                                  // the rule allowing every peer (-1: none)
    int uses = 0;                                      // local pods' map elements jumping to it
    Refs refs4, refs6;
  };
  struct NamedEntry {  // a named-port egress class: maps nN, chain en-N
    int id = 0;
    std::vector<NamedDef> defs;
    std::vector<std::string> counters;  // by rule position
    int uses = 0;
    Refs refs4, refs6;  // "address . proto . port" -> ...
  };
  struct Contribution {  // what one local pod put into the table
    std::vector<std::tuple<std::string, std::string, std::string>> elements;  // set, key, value
    std::vector<std::string> classes, named;
    std::map<std::string, std::set<std::string>> chain_policies;
    std::vector<std::string> ips, selected_by;
  };
  using PeerDefs = std::map<std::string, std::pair<const PolicyPeer*, std::string>>;

  int class_id(std::map<std::string, int>& ids, int& next, const std::string& key);
  bool namespace_matches(const PeerEntry& pe, const std::string& ns) const;
  bool peer_matches(const PeerEntry& pe, const Pod& pod) const;
  PeerEntry& acquire_peer(const std::string& key, const PeerDefs& defs);
  int acquire_class(const std::string& key, const ClassRules& rules, const PeerDefs& defs);
  int acquire_shared(const std::string& key, const std::set<std::string>& peers, const PeerDefs& defs);
  int acquire_named(const std::string& key, const std::map<std::string, NamedDef>& named_defs,
                    const std::vector<RuleRef>& rules, const PeerDefs& defs);
  std::string acquire_counter(const RuleRef& rule);
  void release_counter(const std::string& name);
  int fixed_pos(const ClassEntry& c, const IpAddress& a) const;
  void ref_pos(Refs& refs, const std::vector<std::string>& counters, const std::string& set,
               const std::string& key, int pos, int fixed, int sign);
  void member_change(const std::string& peer_key, const PodRecord& rec, int sign);
  void update_membership(const std::string& pod_key);
  void add_contribution(const Pod& pod);
  void remove_contribution(const std::string& pod_key);
  void sweep();
  void recompute_meta();
  void touch(const std::string& set);  // before the whole set is made or removed
  void touch_key(const std::string& set, const std::string& key);
  void touch_chain(const std::string& chain);
  void touch_counter(const std::string& name);
  void elem_add(const std::string& set, const std::string& key, const std::string& value);
  void elem_del(const std::string& set, const std::string& key);
  void ref(std::map<std::string, int>& refs, const std::string& set, const std::string& key, int sign);
  void own(const std::string& set, const std::string& key, const std::string& pod, const std::string* value);

  const PlannerInput* in_ = nullptr;
  TableState t_;
  std::map<std::string, PeerEntry> peers_;
  std::map<std::string, ClassEntry> classes_;
  std::map<std::string, SharedEntry> shared_;
  std::map<std::string, NamedEntry> named_;
  std::map<std::string, PodRecord> records_;           // every subject pod
  std::map<std::string, Contribution> contributions_;  // local subject pods
  // Local pods' elements by (set, key) -> pod -> value: two pods briefly holding one address (a
  // reused IP) both own its elements; the greatest pod key's value is written, as a whole plan does.
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::string>> owners_;
  // While an update runs: the touched sets and chains as they were (nullopt: did not exist).
  bool tracking_ = false;
  // A set is remembered by the keys touched (their values before), or whole when it is made or
  // removed: a change costs the elements it touches, not the size of the sets it touches.
  struct Touched {
    bool whole = false;
    std::optional<SetState> before;  // whole: the set as it was (nullopt: did not exist)
    std::map<std::string, std::optional<std::string>> keys;  // not whole: key -> value before
  };
  std::map<std::string, Touched> sets_before_;
  std::map<std::string, std::optional<std::vector<std::string>>> chains_before_;
  std::map<std::string, std::optional<RuleRef>> counters_before_;
  // Class numbers stay with their content from one plan to the next, so an update changes
  // elements, not chains; numbers are never reused within a process.
  std::map<std::string, int> class_ids_, named_ids_, rule_ids_, shared_ids_;
  int next_class_ = 1, next_named_ = 1, next_rule_ = 1, next_shared_ = 1;
  std::map<std::string, int> counter_uses_;  // counter -> classes naming it
};

}  // namespace podnet::policy
