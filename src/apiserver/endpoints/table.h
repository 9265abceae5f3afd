// meta.k8s.io/v1 Table responses, which `kubectl get` asks for and prints as-is: kube's columns for
// pods, services, nodes and namespaces, Name/Age for the rest. Cells are computed server-side,
// so Age is relative to the server's clock, as in kube.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

// True when the Accept header's first media type this server can produce is a v1 Table.
bool wants_table(std::string_view accept);

enum class IncludeObject { kNone, kMetadata, kObject };
// The includeObject query parameter; kube's default is Metadata.
IncludeObject parse_include_object(std::string_view value);

struct TableContext {
  std::chrono::system_clock::time_point now;
  IncludeObject include = IncludeObject::kMetadata;
};

// A Table of a <Kind>List (its items and list metadata).
boost::json::value list_to_table(const ResourceType& type, const boost::json::value& list,
                                 const TableContext& ctx);
// A Table of one object (watch events and GET of a single object).
boost::json::value object_to_table(const ResourceType& type, const boost::json::value& object,
                                   const TableContext& ctx);

// kube's duration.HumanDuration: "45s", "3m20s", "5h", "12d"...
std::string human_duration(std::chrono::seconds d);

}  // namespace podnet::apiserver
