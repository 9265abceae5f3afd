// One connection of the server (internal to src/http): created by a listener on accept, it runs
// the handshake, then HTTP/1.1 requests (keep-alive), a chunked stream, or an upgraded WebSocket or
// byte stream, all of its handlers on the connection's strand.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "http/stream.h"
#include "http/types.h"

namespace podnet::http::detail {

// Connections open now: of one listener (its cap) and of the whole server. Shared, so a session may
// outlive its listener.
struct ConnectionCounters {
  std::atomic<size_t> listener{0};
  std::shared_ptr<std::atomic<size_t>> server;
};

struct SessionSettings {
  std::shared_ptr<Handler> handler;
  std::shared_ptr<ConnectionCounters> counters;
  size_t body_limit = 0, header_limit = 0;
  std::chrono::steady_clock::duration idle_timeout{}, handshake_timeout{};
};

class SessionControl {
 public:
  virtual ~SessionControl() = default;
  // Closes the connection from the server side (any thread): streams get stop(), WebSocket
  // handlers on_closed().
  virtual void shutdown() = 0;
};

// Counts the connection at once and starts it.
std::shared_ptr<SessionControl> start_session(std::unique_ptr<Stream> stream, SessionSettings settings);

}  // namespace podnet::http::detail
