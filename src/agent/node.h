// The agent's view of Node objects: decoding what it needs from any Node, building its own Node's
// registration and heartbeat, readiness by heartbeat age, and the CNI config for its pod range.
// Pure: no I/O here (the agent does the API calls, files/write_file_atomic the writing).
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/ip.h"
#include "netlink/link.h"

namespace podnet::agent {

using SystemTime = std::chrono::system_clock::time_point;

inline constexpr const char* kVtepMacAnnotation = "podnet.io/vtep-mac";
inline constexpr const char* kOverlayAnnotation = "podnet.io/overlay";
inline constexpr int kKubeletPort = 10250;

enum class Overlay { kVxlan, kHostGw };
Result<Overlay> parse_overlay(std::string_view text);
const char* overlay_name(Overlay o);

struct NodeInfo {
  std::string name;
  std::optional<IpAddress> internal_ip;
  std::vector<IpPrefix> pod_cidrs;  // spec.podCIDRs, else spec.podCIDR
  std::optional<netlink::Mac> vtep_mac;
  bool ready_condition = false;  // condition Ready is "True"
  std::optional<SystemTime> heartbeat;
  std::optional<SystemTime> ready_transition;  // the Ready condition's lastTransitionTime
};
Result<NodeInfo> decode_node(const boost::json::value& node);

// Ready: condition Ready=True and a heartbeat younger than `grace` (the node-lifecycle check the
// agent does itself: a node whose agent stopped posting is not Ready, whatever it last said).
bool node_ready(const NodeInfo& n, SystemTime now, std::chrono::milliseconds grace);

// status.nodeInfo, field for field (system_info.h reads it from the machine).
struct NodeSystemInfo {
  std::string machine_id, system_uuid, boot_id, kernel_version, os_image;
  std::string container_runtime_version, kubelet_version, kube_proxy_version;
  std::string operating_system, architecture;
};

struct LocalNode {
  std::string name;
  IpAddress ip;
  std::string hostname;
  Overlay overlay = Overlay::kVxlan;
  std::optional<netlink::Mac> vtep_mac;
  std::optional<NodeSystemInfo> system_info;  // none: nodeInfo is not posted
};
// The object POSTed when the Node does not exist (metadata only; status goes through /status).
boost::json::value node_object(const LocalNode& n);
// Merge patch for an existing Node's metadata (annotations, labels).
boost::json::value metadata_patch(const LocalNode& n);
// Strategic merge patch for nodes/<n>/status: addresses, Ready (True, or False with kubelet's
// KubeletNotReady while the node's network is not ready), heartbeat, daemonEndpoints, nodeInfo.
// `transition`: when Ready last changed.
boost::json::value status_patch(const LocalNode& n, SystemTime now, SystemTime transition, bool ready);

struct CniConfigSpec {
  IpPrefix pod_cidr;
  unsigned mtu = 1500;
  std::string ipam_dir;   // <state-dir>/ipam
  std::string state_dir;  // <state-dir>/cni-state: podnet-cni's own state (pending deletions)
  std::string bpf_dir;    // the fast path's pins (podnet-cni attaches pods there); empty: none
  bool policy = false;    // NetworkPolicy enforced: new pods start PENDING in the fast path
};
// The conflist of CONTRACTS.md (type podnet, bridge pnbr0, ipMasq false: the agent masquerades).
std::string cni_conflist(const CniConfigSpec& spec);

}  // namespace podnet::agent
