// exec and attach over plain SPDY/3.1 (kubectl's fallback when its WebSocket upgrade is refused,
// and its transport with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false), negotiated as
// v4.channel.k8s.io: the API server terminates the client's SPDY session
// (common/spdy_remote_command.h) and relays its streams as the node's stream framing
// (common/stream_frames.h) over an already opened node stream (pod_exec.h's open_node_stream),
// started once every stream the request asked for is open. The Status arrives on the error
// stream, then every stream ends and the connection closes.
#pragma once

#include <memory>

#include "apiserver/http/websocket_upgrade.h"
#include "common/spdy_remote_command.h"

namespace podnet::apiserver {

std::shared_ptr<WebSocketHandler> make_spdy_remote_command(std::shared_ptr<WebSocketHandler> node,
                                                           spdy::StreamsWanted wanted);

}  // namespace podnet::apiserver
