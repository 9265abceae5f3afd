// The service proxy's desired-state vocabulary: frontends (what clients dial), backends (endpoints),
// the shared chains packets are sent to, and element operations on podnet's nftables sets and maps.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"

namespace podnet::proxy {

enum class Family : uint8_t { kIPv4, kIPv6 };
inline constexpr Family kFamilies[] = {Family::kIPv4, Family::kIPv6};
inline const char* nft_family(Family f) {
  return f == Family::kIPv4 ? "ip" : "ip6";
}

// 17 bytes instead of boost's 32-byte address: the proxy holds millions of these at scale.
struct Ip {
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes, network order
  bool v6 = false;

  static Ip from(const IpAddress& a);
  Family family() const { return v6 ? Family::kIPv6 : Family::kIPv4; }
  size_t size() const { return v6 ? 16 : 4; }
  std::string str() const;
  auto operator<=>(const Ip&) const = default;
};

// What a client dials: a virtual, node, external or load-balancer IP with protocol and port.
struct Frontend {
  Ip addr;
  uint8_t proto = 6;  // IANA number: 6 tcp, 17 udp, 132 sctp
  uint16_t port = 0;
  auto operator<=>(const Frontend&) const = default;
};

struct Backend {
  Ip addr;
  uint16_t port = 0;
  auto operator<=>(const Backend&) const = default;
};

// Frontends with the same number of endpoints and the same treatment share one chain that picks an
// endpoint from the big `endpoints` map, so the number of chains does not grow with services.
struct ChainSpec {
  uint32_t endpoints = 0;
  bool masquerade = false;        // external traffic with externalTrafficPolicy Cluster
  uint32_t affinity_timeout = 0;  // seconds; 0 = no session affinity
  std::string name() const;       // "svc-n3", "svc-n3-masq", "svc-n3-aff10800"
  // The chain that picks the endpoint; the masquerade and affinity variants end by going there.
  ChainSpec plain() const { return {endpoints, false, 0}; }
  auto operator<=>(const ChainSpec&) const = default;
};

// A shared chain lives in one shard table (see RulesetConfig::shards) of one family.
struct ChainKey {
  Family family = Family::kIPv4;
  uint32_t shard = 0;
  ChainSpec spec;
  auto operator<=>(const ChainKey&) const = default;
};

struct FrontendPlan {
  Frontend frontend;
  std::vector<Backend> backends;  // sorted; empty = the frontend rejects
  bool masquerade = false;
  uint32_t affinity_timeout = 0;
  ChainSpec chain() const { return {static_cast<uint32_t>(backends.size()), masquerade, affinity_timeout}; }
  bool operator==(const FrontendPlan&) const = default;
};

// Everything one Service contributes to the datapath, both families.
struct ServicePlan {
  std::vector<FrontendPlan> frontends;  // sorted by frontend
  // Backends running on this node: only they can be a client reaching itself (hairpin), since a
  // pod's traffic is proxied on its own node.
  std::vector<Ip> local_backends;  // sorted
  bool operator==(const ServicePlan&) const = default;
};

// UDP conntrack entries to delete after a sync (kube-proxy's cleanup; TCP ends on its own): those
// with original destination `frontend` and reply source `backend`, a backend that stopped serving
// it; or, with no `backend`, every entry to a frontend that had no endpoints (such entries were
// made without DNAT and would keep bypassing it).
struct StaleFlow {
  Frontend frontend;
  std::optional<Backend> backend;
  auto operator<=>(const StaleFlow&) const = default;
};

// podnet's sets and maps, per family table.
// Shared chains for up to this many endpoints, with and without masquerade, always exist: making
// a chain that uses the big `endpoints` map costs a walk of the whole map in the kernel (78 ms
// at 10^6 endpoints, measured), and a change of endpoint count is the common change.
inline constexpr uint32_t kPreparedEndpointCounts = 16;
inline bool is_prepared(const ChainSpec& c) {
  return c.affinity_timeout == 0 && c.endpoints >= 1 && c.endpoints <= kPreparedEndpointCounts;
}

enum class SetId : uint8_t {
  kServiceIps,   // frontend : goto chain
  kNoEndpoints,  // frontend -> reject
  kEndpoints,    // frontend . index : backend
  kHairpin,      // endpoint . endpoint -> masquerade a pod reaching itself
  kAffinity,     // frontend, per timeout: connections to record in the sticky map
  kSticky,       // frontend . client : backend, per timeout, filled by the kernel
};

struct ElementOp {
  enum class Kind : uint8_t { kAdd, kDelete, kFlush };
  Kind kind = Kind::kAdd;
  SetId set = SetId::kServiceIps;
  uint32_t timeout = 0;  // names the kAffinity / kSticky set
  Frontend key;          // kHairpin: key.addr is the endpoint address
  uint32_t index = 0;    // kEndpoints
  Backend backend;       // kEndpoints value
  ChainSpec chain;       // kServiceIps value
  uint32_t shard = 0;    // the service's shard table; kNoEndpoints and kHairpin live in the base table
  Family family() const { return key.addr.family(); }
  bool operator==(const ElementOp&) const = default;
};

}  // namespace podnet::proxy
