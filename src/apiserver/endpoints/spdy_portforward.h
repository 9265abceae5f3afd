// kubectl's port-forward (SPDY/3.1 in a WebSocket, subprotocol SPDY/3.1+portforward.k8s.io): the
// API server terminates the client's SPDY session (common/spdy.h) and translates each forwarded
// connection -- a pair of SPDY streams, error and data, sharing a requestID -- into its own
// port-forward stream to the node (node_dial.h, common/stream_frames.h): one node connection per
// client connection, opened when the pair is complete, closed when either side ends. The client's
// streams per session are capped; data from the client is paced by what the node connections
// take, data to the client by the WebSocket's send queue.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "apiserver/endpoints/node_dial.h"
#include "apiserver/http/websocket_upgrade.h"

namespace podnet::apiserver {

inline constexpr std::string_view kSpdyTunnelProtocol = "SPDY/3.1+portforward.k8s.io";
// SPDY streams open at once in one session (two per forwarded connection).
inline constexpr size_t kMaxSpdyStreams = 512;

std::shared_ptr<WebSocketHandler> make_spdy_portforward(NodeAddress node, std::string ns, std::string pod,
                                                        KubeletClientTls kubelet,
                                                        std::chrono::milliseconds timeout);

}  // namespace podnet::apiserver
