// A reply that upgrades the connection to a WebSocket (exec) or to a raw byte stream (plain SPDY): its
// `stream` is a WebSocketUpgrade, which the server recognizes, accepts with the chosen subprotocol and
// hands to a handler. Kept apart from types.h, which nearly every handler includes.
#pragma once

#include <memory>
#include <string>

#include "http/types.h"

namespace podnet::http {

// The client's side of an upgraded WebSocket, for the handler that took it over. Safe to call from
// any thread.
class WebSocketPeer {
 public:
  virtual ~WebSocketPeer() = default;
  virtual void send(std::string message) = 0;  // one binary message; sent in call order
  virtual size_t queued_bytes() const = 0;     // sent but not yet written to the socket
  virtual void read_next() = 0;                // the handler is ready for the client's next message
  virtual void end() = 0;                      // a normal close once what was sent is written
};

// Takes over a connection upgraded to a WebSocket. start() runs once the 101 is on the wire; the
// first client message is read at once, each later one after read_next(). on_closed() when the
// client went away, the close completed or the server shuts down (also when start() never ran);
// no calls follow it.
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  virtual void start(std::shared_ptr<WebSocketPeer> peer) = 0;
  virtual void on_message(std::string message) = 0;
  virtual void on_closed() = 0;
};

// Reply::stream of an upgrade; its StreamBody side is never started.
class WebSocketUpgrade final : public StreamBody {
 public:
  WebSocketUpgrade(std::shared_ptr<WebSocketHandler> handler, std::string protocol)
      : handler(std::move(handler)), protocol(std::move(protocol)) {}
  void start(boost::asio::any_io_executor, std::shared_ptr<ChunkSink>) override {}
  void stop() override {}

  std::shared_ptr<WebSocketHandler> handler;
  std::string protocol;  // the subprotocol answered (Sec-WebSocket-Protocol)
  // Not a WebSocket: the Reply's own 101 (with its Upgrade headers) goes out and the connection
  // carries bytes both ways (plain SPDY/3.1). Messages are then chunks of the byte stream as they
  // arrive, and send() writes bytes.
  bool raw = false;
};

}  // namespace podnet::http
