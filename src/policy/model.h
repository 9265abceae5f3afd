// The node side's view of NetworkPolicy (networking.k8s.io/v1), pods and namespaces: plain data
// decoded leniently from API JSON. A bad object is rejected whole with an error naming the field
// (the agent skips it and logs); unknown fields are ignored. No planning or kernel code here.
#pragma once

#include <boost/json/value.hpp>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"
#include "common/ip.h"

namespace podnet::policy {

using Labels = std::map<std::string, std::string>;

struct SelectorRequirement {
  enum class Op { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;
};

// metav1.LabelSelector: matchLabels AND every matchExpression. The empty selector matches all.
struct LabelSelector {
  Labels match_labels;
  std::vector<SelectorRequirement> expressions;
  bool matches(const Labels& labels) const;
  std::string canonical() const;  // equal selectors give equal text (used as a cache key)
};

enum class Protocol : uint8_t { kTcp = 6, kUdp = 17, kSctp = 132 };
const char* nft_proto(Protocol p);  // "tcp", "udp", "sctp"

struct PolicyPort {
  Protocol protocol = Protocol::kTcp;
  // Unset: every port of the protocol. A number, or a container port's name.
  std::optional<std::variant<int32_t, std::string>> port;
  std::optional<int32_t> end_port;  // with a numeric port: the range port..end_port
};

struct IpBlock {
  IpPrefix cidr;
  std::vector<IpPrefix> except;
};

// One element of from/to: pods by selector (in the policy's namespace unless namespaceSelector is
// set; both set means AND), or addresses.
struct PolicyPeer {
  std::optional<LabelSelector> pod_selector, namespace_selector;
  std::optional<IpBlock> ip_block;
};

struct PolicyRule {
  std::vector<PolicyPeer> peers;  // empty: every peer
  std::vector<PolicyPort> ports;  // empty: every port and protocol
};

// One rule of a policy: the policy ("namespace/name"), "ingress" or "egress", and its index in
// spec.ingress / spec.egress. Per-rule counters (planner.h) and explanations name rules by it.
#define PODNET_POLICY_HAS_RULE_REF 1
struct RuleRef {
  std::string policy;
  std::string direction;
  int rule = 0;
  auto operator<=>(const RuleRef&) const = default;
};

struct NetworkPolicy {
  std::string namespace_, name;
  LabelSelector pod_selector;
  bool ingress = true, egress = false;  // policyTypes (defaulted as the API documents)
  std::vector<PolicyRule> ingress_rules, egress_rules;
  std::string key() const { return namespace_ + "/" + name; }
};

struct ContainerPort {
  std::string name;
  Protocol protocol = Protocol::kTcp;
  int32_t port = 0;
  bool operator==(const ContainerPort&) const = default;
};

struct Pod {
  std::string namespace_, name, node, uid;
  Labels labels;
  std::vector<IpAddress> ips;  // status.podIPs (status.podIP when absent)
  bool host_network = false;
  bool terminal = false;             // phase Succeeded or Failed: its address may already be someone else's
  std::vector<ContainerPort> ports;  // named container ports only
  std::string key() const { return namespace_ + "/" + name; }
  // A pod that policies may select or name as a peer.
  bool is_subject() const { return !host_network && !terminal && !ips.empty(); }
  bool operator==(const Pod&) const = default;
};

struct Namespace {
  std::string name;
  Labels labels;
};

Result<NetworkPolicy> decode_network_policy(const boost::json::value& json);
Result<Pod> decode_pod(const boost::json::value& json);
Result<Namespace> decode_namespace(const boost::json::value& json);

}  // namespace podnet::policy
