// pods/<name>/exec, attach and portforward: the client's WebSocket (v5.channel.k8s.io
// or v4.channel.k8s.io) is accepted here and relayed to the node agent that runs the pod over the
// verified TLS channel of node_dial.h. The API server translates: it terminates the client's
// WebSocket and speaks the agent's plain stream framing (common/stream_frames.h), one WebSocket
// message per frame, channel byte for channel byte; it reads nothing of the streams' content.
// Every refusal comes before the upgrade, as an HTTP error with kube's Status.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "apiserver/endpoints/node_dial.h"
#include "apiserver/http/http_types.h"
#include "apiserver/http/websocket_upgrade.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

// The WebSocket subprotocols served, in the server's order of preference.
inline const std::vector<std::string> kStreamProtocols{"v5.channel.k8s.io", "v4.channel.k8s.io"};

// The first protocol of the client's Sec-WebSocket-Protocol list the server speaks; empty if none.
std::string choose_stream_protocol(std::string_view offered);

struct ExecOptionsQuery {
  std::string container;
  std::vector<std::string> command;
  bool stdin = false, stdout = false, stderr = false, tty = false;
};
// The query of a pods/exec request (command repeats); bad percent-encoding is 400.
ApiResult<ExecOptionsQuery> parse_exec_query(std::string_view target);

Reply pod_exec(ObjectStore& objects, const ResourceRegistry& registry, const Request& request,
               const std::string& ns, const std::string& name, const KubeletClientTls& kubelet,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));

// pods/<name>/attach?container=&stdin=&stdout=&stderr=&tty=: joins the container's stdio on its
// node (runtime/attach_session.h), over the same protocols and relay as exec.
Reply pod_attach(ObjectStore& objects, const ResourceRegistry& registry, const Request& request,
                 const std::string& ns, const std::string& name, const KubeletClientTls& kubelet,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10));

// pods/<name>/portforward?ports=8080: the WebSocket port-forward of python3-kubernetes (v4:
// channel 2i data and 2i+1 errors of port i, each opened with the port number), and kubectl
// 1.32's SPDY/3.1 tunnelled in a WebSocket (SPDY/3.1+portforward.k8s.io, spdy_portforward.h;
// ports come in each stream's headers, not the query).
Reply pod_portforward(ObjectStore& objects, const ResourceRegistry& registry, const Request& request,
                      const std::string& ns, const std::string& name, const KubeletClientTls& kubelet,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

// One stream to the node agent for `target` (/exec/..., /portForward/...): connected, verified and
// answered 101, not yet relaying (start() it with the client's side). `name` is the pod's, for
// errors; `exec`: the streams end with a Status on channel 3. Blocks up to `timeout`.
ApiResult<std::shared_ptr<WebSocketHandler>> open_node_stream(const std::string& name,
                                                              const NodeAddress& node,
                                                              const std::string& target,
                                                              const KubeletClientTls& kubelet,
                                                              std::chrono::milliseconds timeout, bool exec);

}  // namespace podnet::apiserver
