// The API server's names for the transport's WebSocket and raw-upgrade types (src/http/websocket.h).
#pragma once

#include "apiserver/http/http_types.h"
#include "http/websocket.h"

namespace podnet::apiserver {

using WebSocketPeer = podnet::http::WebSocketPeer;
using WebSocketHandler = podnet::http::WebSocketHandler;
using WebSocketUpgrade = podnet::http::WebSocketUpgrade;

}  // namespace podnet::apiserver
