// Object name rules per kind (DNS-1123 subdomain, DNS-1123 label, DNS-1035 label) with kube's exact
// messages, returned as Invalid causes for metadata.name.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "apiserver/api_error.h"
#include "apiserver/resources.h"

namespace podnet::apiserver {

// Empty when the name is valid; otherwise one cause per broken rule (field metadata.name).
std::vector<StatusCause> validate_name(NameRule rule, const std::string& name);

// metadata.labels: qualified-name keys ([prefix/]name) and label values, as kube checks them.
// A non-object labels field is one cause too.
std::vector<StatusCause> validate_labels(const boost::json::value* labels);

}  // namespace podnet::apiserver
