// GET .../pods/<name>/log: the pod's node agent has the logs. This finds the pod's node, the Node's
// InternalIP and kubelet port, and relays the agent's /containerLogs/<ns>/<pod>/<container> answer
// to the client as it arrives, so follow=true streams. The connection is HTTPS both ways, as
// kube-apiserver's to the kubelet: the node's serving certificate must chain to the cluster CA,
// name the address dialed and belong to system:node:<the pod's node>; the API server presents its
// kubelet client certificate (--kubelet-client-certificate).
#pragma once

#include <chrono>
#include <string>

#include "apiserver/auth/pki.h"
#include "apiserver/endpoints/node_dial.h"
#include "apiserver/http/http_types.h"
#include "apiserver/http/request_info.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

// The agent's status line and headers are awaited here (up to `timeout`); the body streams later.
Reply pod_log(ObjectStore& objects, const ResourceRegistry& registry, const std::string& ns,
              const std::string& name, const QueryParams& query, const KubeletClientTls& kubelet,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));

// kube's rules for the container parameter: required unless the pod has exactly one container.
ApiResult<std::string> log_container(const boost::json::value& pod, const std::string& requested);

}  // namespace podnet::apiserver
