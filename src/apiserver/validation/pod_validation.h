// kube-apiserver's Pod defaults and validation for every field a node acts on: containers (names,
// images, ports, host ports, env), probes, restart policy, grace period, host network. Kube's paths
// and messages; wrongly typed values are refused first, as kube's decoder refuses them (400).
#pragma once

#include <boost/json/object.hpp>
#include <vector>

#include "apiserver/api_error.h"
#include "apiserver/registry/write_hook.h"

namespace podnet::apiserver {

void default_pod(boost::json::object& pod);
std::vector<StatusCause> validate_pod(const boost::json::object& pod);

// Pod writes through ObjectStore: 400 for a value of the wrong JSON type, then defaults, then 422
// Invalid for what validate_pod finds. A write that keeps the stored spec (status) is not checked.
class PodValidation : public WriteHook {
 public:
  ApiResult<std::unique_ptr<WriteTxn>> before_write(const boost::json::object* old,
                                                    boost::json::object& obj) override;
  void after_delete(const boost::json::object&) override {}
};

}  // namespace podnet::apiserver
