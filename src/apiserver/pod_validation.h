// A light ValidatePod: containers present, container names DNS-1123 labels and unique, images set,
// container ports valid (with kube's default protocol TCP). Kube's field messages.
#pragma once

#include <boost/json/object.hpp>
#include <vector>

#include "apiserver/api_error.h"
#include "apiserver/write_hook.h"

namespace podnet::apiserver {

void default_pod(boost::json::object& pod);
std::vector<StatusCause> validate_pod(const boost::json::object& pod);

// Pod writes through ObjectStore: defaults, then 422 Invalid for what validate_pod finds.
class PodValidation : public WriteHook {
 public:
  ApiResult<std::unique_ptr<WriteTxn>> before_write(const boost::json::object* old,
                                                    boost::json::object& obj) override;
  void after_delete(const boost::json::object&) override {}
};

}  // namespace podnet::apiserver
