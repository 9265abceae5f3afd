// pods/<id>/proxy/<path> and services/<id>/proxy/<path> (kubectl proxy, `kubectl get --raw`): the
// target is resolved as kube-apiserver resolves it (proxy_target.h), then the request is relayed
// through the agent of the pod's node over the verified TLS channel of node_dial.h (the agent
// connects from the node to the pod: runtime/pod_proxy_session.h), as plain HTTP/1.1 with
// `Connection: close`. RBAC decides before this runs (any verb on pods/proxy, services/proxy; the
// node credential has none).
//
// What is passed on: the method, the path after /proxy and the raw query, the body (bounded by the
// server's request limit) and the end-to-end headers, without the client's credentials
// (Authorization, Impersonate-*), hop-by-hop headers or Host (the pod's address). The answer is read
// whole, headers up to kProxyHeaderLimit and body up to kProxyBodyLimit (502 beyond), and returned
// with its status and end-to-end headers; a Location that is an absolute path on the pod is
// rewritten under the proxy path. Upgrades (WebSocket through the proxy) are not relayed.
#pragma once

#include <chrono>
#include <string>

#include "apiserver/endpoints/node_dial.h"
#include "apiserver/http/http_types.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

inline constexpr size_t kProxyBodyLimit = 8 << 20;
inline constexpr size_t kProxyHeaderLimit = 64 << 10;

struct ProxyCall {
  std::string ns, resource, id;  // resource: "pods" or "services"; id: `name[:port]` or `scheme:name:port`
  std::string subpath;           // after /proxy, percent-decoded: "" or "/..."
  std::string raw_query;         // as the client sent it, without '?'
  std::string request_path;      // the client's path, decoded (for the trailing-slash redirect)
};

Reply resource_proxy(ObjectStore& objects, const ResourceRegistry& registry, const Request& request,
                     const ProxyCall& call, const KubeletClientTls& kubelet,
                     std::chrono::milliseconds connect_timeout = std::chrono::seconds(10),
                     std::chrono::milliseconds exchange_timeout = std::chrono::seconds(60));

}  // namespace podnet::apiserver
