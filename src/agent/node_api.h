// The node API: read-only answers about this node's datapath (routes, the VXLAN FDB, podnet's
// nftables tables with their counters, the fast path's map entries and counters), served on the
// kubelet port next to logs and exec, so only the API server reaches it and RBAC's `nodes/proxy`
// decides who may ask. Every answer is bounded in size and time; queries run one at a time.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace podnet::agent {

class FlowLog;
class ProbeSessions;

struct NodeApiConfig {
  std::shared_ptr<const FlowLog> flows;  // the node's flow log (flows.h); null: flows not served
  std::string bpf_dir;                   // the fast path's pins; empty: no fast path on this node
  size_t max_reply_bytes = 4 << 20;      // a bigger answer is refused (narrow it with set=)
  size_t max_entries = 16384;            // routes or FDB entries listed at most
  // `podnet trace --live` (probe.h): the armed collectors, and where a pod's probe is sent from.
  // Either unset: /podnet/v1/probe/... answers 404.
  std::shared_ptr<ProbeSessions> probes;
  std::function<std::optional<std::string>(const std::string& ns, const std::string& pod)> pod_netns;
  // NetworkPolicy's per-rule counters as JSON for a namespace and policy name (empty: all);
  // empty function: this node enforces no NetworkPolicy.
  std::function<Result<std::string>(std::string_view ns, std::string_view name)> policy_counters;
};

struct NodeApiReply {
  int status = 200;
  std::string body;  // JSON: the answer, or {"error": "..."}
};

// Answers `target` (a request target under /podnet/v1/) in the calling thread's network namespace.
NodeApiReply answer_node_query(const NodeApiConfig& config, std::string_view target);

}  // namespace podnet::agent
