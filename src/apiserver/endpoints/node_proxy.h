// GET /api/v1/nodes/<name>/proxy/podnet/...: the node agent's read-only node API (agent/node_api.h),
// relayed as kube-apiserver relays nodes/proxy to the kubelet: over the verified TLS channel of
// node_dial.h, only after RBAC allowed `get nodes/proxy` (the node credential never has it). Only
// the node API's paths are relayed, and only GET; the answer is buffered and bounded. Connections
// to the node are kept open between requests (NodeConnectionPool) when the node allows it.
#pragma once

#include <chrono>
#include <string>

#include "apiserver/endpoints/node_dial_pool.h"
#include "apiserver/http/http_types.h"
#include "apiserver/http/request_info.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

inline constexpr size_t kNodeProxyBodyLimit = 8 << 20;

Reply node_proxy(ObjectStore& objects, const ResourceRegistry& registry, const std::string& node,
                 const std::string& subpath, const QueryParams& query, const KubeletClientTls& kubelet,
                 NodeConnectionPool& pool, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace podnet::apiserver
