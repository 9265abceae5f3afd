// nft text for `table inet podnet-policy`: the whole table (first sync, restart, pod range change)
// or the difference between two TableStates (every later sync: elements, class chains and sets).
#pragma once

#include <string>

#include "policy/planner.h"

namespace podnet::policy {

// The named counters of the deny rules: denied packets by direction, and of pending pods.
inline constexpr const char* kDenyCounters[] = {"deny-ingress", "deny-egress", "deny-pending"};

struct RulesetConfig {
  std::string bridge = "pnbr0";  // the pod bridge (input: pending pods are refused there)
  int log_group = 0;             // NFLOG group for denials; 0: no log rule
  int log_rate_per_second = 10;  // denials logged per second per direction (the rest only counted)
};

// One transaction that replaces the table whole (add, delete, define): the old table stays in
// force until the new one is committed.
std::string render_full(const TableState& s, const RulesetConfig& cfg);
// The commands that turn `from` into `to` ("" when equal); a full render when the pod ranges differ.
std::string render_diff(const TableState& from, const TableState& to, const RulesetConfig& cfg);
// Removes the table ("" if it does not exist is the caller's concern).
std::string render_delete();

}  // namespace podnet::policy
