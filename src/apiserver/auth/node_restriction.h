// kube's NodeRestriction admission plugin for podnet's node credentials (system:node:<name>): a node
// changes only its own Node, within what a kubelet may set, and only the status of pods bound to it.
// On top of kube: a node never sets its pod ranges (the node IPAM controller does), and the
// addresses it reports must be ones the API server may connect to (pod logs go there), and its
// Events are about itself or pods bound to it, in their namespace (kube lets a node write any).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/auth/admission.h"
#include "common/ip.h"

namespace podnet::apiserver {

// Where a pod is bound (spec.nodeName, "" when not yet) and its uid.
struct PodBinding {
  std::string node;
  std::string uid;
};

struct NodeRestrictionOptions {
  // Where node InternalIPs live (`--node-network`); nullopt: anywhere but the special ranges.
  std::optional<IpPrefix> node_network;
  // The API server's own addresses: a node claiming one would make the server call itself.
  std::vector<IpAddress> server_addresses;
  // The pod `ns`/`name` as stored; nullopt when there is none. Unset: nodes may write no pod events.
  std::function<std::optional<PodBinding>(const std::string& ns, const std::string& name)> pod_binding;
};

class NodeRestriction final : public AdmissionPlugin {
 public:
  explicit NodeRestriction(NodeRestrictionOptions options) : options_(std::move(options)) {}
  ApiResult<void> admit(const AdmissionRequest& request) const override;

 private:
  ApiResult<void> admit_node(const std::string& node, const AdmissionRequest& request) const;
  ApiResult<void> admit_addresses(const std::string& node, const AdmissionRequest& request) const;
  ApiResult<void> admit_event(const std::string& node, const AdmissionRequest& request,
                              const boost::json::object& event) const;

  NodeRestrictionOptions options_;
};

// kube's getForbiddenLabels: the keys of `modified` a kubelet may not set (node-restriction.kubernetes.io,
// and kubernetes.io / k8s.io keys outside the kubelet's own), sorted.
std::vector<std::string> forbidden_node_labels(const std::vector<std::string>& modified);

}  // namespace podnet::apiserver
