// The node API's requests: `GET /podnet/v1/<what>?<params>` on the agent's kubelet port, which only
// the API server reaches (its kubelet client certificate), on behalf of a user RBAC allowed
// `nodes/proxy`. Parsing is pure, bounded and non-throwing: the fuzz target's entry point.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "common/ip.h"

namespace podnet::agent {

inline constexpr std::string_view kNodeApiPrefix = "/podnet/v1/";
inline constexpr size_t kMaxNodeQueryTarget = 2048;

enum class NodeQueryKind {
  kRoutes,    // the main routing table (and the route `dst` takes)
  kFdb,       // the VXLAN device's forwarding entries (remote VTEPs)
  kNft,       // one of podnet's own nftables tables, or one set/map of it, with counters
  kFastPath,  // the fast path's counters and its pn_pods / pn_tunnels entries for `dst`
  kFlows,     // the node's flow log (flows.h): connections seen in the last `since` seconds
  kService,   // the service proxy's rule for one frontend `dst . proto . port` (service-ips, no-endpoints)
  kPolicy,    // NetworkPolicy per-rule counters, of one `namespace` (and policy `name`) or all
};

struct NodeQuery {
  NodeQueryKind kind = NodeQueryKind::kRoutes;
  std::optional<IpAddress> dst;  // routes, fastpath, service
  std::string family;            // nft: ip, ip6 or inet
  std::string table;             // nft: podnet or podnet-...
  std::string set;               // nft: empty for the whole table
  int since_seconds = 300;       // flows: 0..86400
  std::string proto;             // service: tcp, udp or sctp
  int port = 0;                  // service: 1..65535
  std::string service;           // service: NS/NAME, optional: its shard table is looked at first
  std::string namespace_, name;  // policy: filters (name needs namespace)
};

struct NodeQueryError {
  int status;  // 400 or 404
  std::string message;
};

std::expected<NodeQuery, NodeQueryError> parse_node_query(std::string_view target);

}  // namespace podnet::agent
