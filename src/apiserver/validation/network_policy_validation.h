// NetworkPolicy writes through ObjectStore: kube's v1 defaults (SetDefaults_NetworkPolicy and
// SetDefaults_NetworkPolicyPort) and ValidateNetworkPolicy / ValidateNetworkPolicyUpdate (v1.32) with
// kube's field paths and messages, so a policy the node could not enforce never gets stored.
#pragma once

#include <boost/json/object.hpp>
#include <string_view>
#include <vector>

#include "apiserver/api_error.h"
#include "apiserver/registry/write_hook.h"

namespace podnet::apiserver {

// ports[].protocol absent or null -> "TCP"; policyTypes empty -> ["Ingress"] plus "Egress" when the
// policy has egress rules.
void default_network_policy(boost::json::object& np);

// The causes of an invalid NetworkPolicy spec (empty when valid); `old` on update (a stored
// podSelector with invalid label values lets matchExpressions values stay unchecked, as kube does).
std::vector<StatusCause> validate_network_policy(const boost::json::object& np,
                                                 const boost::json::object* old);

// metav1 ValidateLabelSelector at `path` (e.g. "spec.podSelector"): matchLabels keys and values,
// matchExpressions operators, keys and (unless allow_invalid_values) values.
void validate_label_selector(const boost::json::value* selector, const std::string& path,
                             bool allow_invalid_values, std::vector<StatusCause>& out);

class NetworkPolicyValidation : public WriteHook {
 public:
  ApiResult<std::unique_ptr<WriteTxn>> before_write(const boost::json::object* old,
                                                    boost::json::object& obj) override;
  void after_delete(const boost::json::object&) override {}
};

}  // namespace podnet::apiserver
