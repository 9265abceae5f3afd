// Node writes through ObjectStore, whoever writes: kube's ValidateNode / ValidateNodeUpdate for the
// fields podnet acts on (spec.podCIDRs, status.addresses), and spec.podCIDR kept equal to
// spec.podCIDRs[0] as kube's v1 conversion keeps it. Who may write what is NodeRestriction's job.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "apiserver/api_error.h"
#include "apiserver/registry/write_hook.h"

namespace podnet::apiserver {

// The pod ranges a Node holds: spec.podCIDRs, else spec.podCIDR alone (as kube reads v1).
std::vector<std::string> node_pod_cidrs(const boost::json::object& node);

// Causes for a Node as it would be stored; `old` is null on create.
std::vector<StatusCause> validate_node(const boost::json::object* old, const boost::json::object& node);

class NodeValidation : public WriteHook {
 public:
  ApiResult<std::unique_ptr<WriteTxn>> before_write(const boost::json::object* old,
                                                    boost::json::object& obj) override;
  void after_delete(const boost::json::object&) override {}
};

}  // namespace podnet::apiserver
