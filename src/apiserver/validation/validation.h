// Object name rules per kind (DNS-1123 subdomain, DNS-1123 label, DNS-1035 label) with kube's exact
// messages, returned as Invalid causes for metadata.name.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/api_error.h"
#include "apiserver/registry/resources.h"
#include "k8s/names.h"

namespace podnet::apiserver {

// kube's value rules (DNS-1123 label and subdomain, IANA port name) live in k8s/names.h, where
// the node checks what it reads with them too.
using k8s::dns1123_label_errors;
using k8s::dns1123_subdomain_errors;
using k8s::port_name_errors;

// Empty when the name is valid; otherwise one cause per broken rule (field metadata.name).
std::vector<StatusCause> validate_name(NameRule rule, const std::string& name);

// metadata.labels: qualified-name keys ([prefix/]name) and label values, as kube checks them.
// A non-object labels field is one cause too.
std::vector<StatusCause> validate_labels(const boost::json::value* labels);

// kube's IsQualifiedName ([prefix/]name): one message per broken rule, empty when valid.
std::vector<std::string> qualified_name_errors(std::string_view value);

// kube's IsValidLabelValue: at most 63 characters of the label pattern (empty is valid).
std::vector<std::string> label_value_errors(std::string_view value);

// metadata.annotations as kube's ValidateAnnotations checks them: qualified-name keys (case does
// not matter) and at most limits::kMaxAnnotationsBytes of keys and values together. Only string
// values are counted: annotations_type_error() refuses the others first.
std::vector<StatusCause> validate_annotations(const boost::json::value* annotations);

// annotations are a map of strings; otherwise Go's decoder error as kube reports it ("json: cannot
// unmarshal object into Go struct field ObjectMeta.metadata.annotations of type string").
std::optional<std::string> annotations_type_error(const boost::json::value* annotations);

}  // namespace podnet::apiserver
