// What controllers read the API with: the shared caches (client/cache.h, one Informer each) over
// k8s::ApiClient, and small readers of the JSON objects they look at. Writes go through
// Cache::client(), the one client interface; in `podnet server` that is the API server's in-process
// client acting as the controller identity (apiserver/in_process_client.h), so a controller's
// write is authorized and admitted exactly as the same request over HTTPS would be.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <utility>

#include "client/cache.h"
#include "k8s/api_client.h"
#include "k8s/json_fields.h"

namespace podnet::controllers {

using client::Cache;
using client::Change;
using client::ObjectPtr;

// The pod cache's index of pods by spec.nodeName (client::pod_node_index).
inline constexpr const char* kPodsByNode = "node";

// Small readers of the JSON objects controllers look at (paths: k8s/json_fields.h).
using k8s::fields::object_at;
using k8s::fields::string_at;
std::string name_of(const boost::json::value& obj);
std::string namespace_of(const boost::json::value& obj);
// "<ns>/<name>", or "<name>" for cluster-scoped objects: the work queue key.
std::string key_of(const boost::json::value& obj);
std::pair<std::string, std::string> split_key(const std::string& key);

}  // namespace podnet::controllers
