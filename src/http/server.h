// The one HTTP server transport of podnet: Boost.Beast on a small pool of threads, TLS (with
// client-certificate identity) or plain TCP per listener, HTTP/1.1 keep-alive, request size limits,
// a connection cap, chunked streams, WebSocket and raw upgrades, and a graceful stop. Used by the
// API server (one TLS listener) and the proxy's health and metrics ports (plain listeners opened and
// closed at run time). When accept() fails for want of file descriptors it backs off (5 ms doubling
// to 1 s, as Go's net/http) instead of spinning. It knows nothing about Kubernetes.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/error.h"
#include "http/tls_context.h"
#include "http/types.h"

namespace podnet::http {

struct ListenerOptions {
  boost::asio::ip::tcp::endpoint endpoint;  // port 0: any free port; [::] serves IPv4 too
  std::optional<ServerTls> tls;             // nullopt: plain HTTP
  size_t body_limit = 3 * 1024 * 1024;      // kube-apiserver's default request size limit
  size_t header_limit = 64 * 1024;
  // Connections of this listener open at once; one more is accepted and closed at once (its file
  // descriptor freed).
  size_t max_connections = 4096;
  std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds(120);  // also a request's read
  std::chrono::steady_clock::duration handshake_timeout = std::chrono::seconds(10);
};

class Server {
 public:
  // Starts `threads` threads (at least one) that serve every listener.
  explicit Server(int threads = 1);
  // Closes every listener and connection (streams get stop(), WebSocket handlers on_closed()),
  // waits (bounded) for the sessions to let go, and joins the threads.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens under `key` (which must be free) in the calling thread's network namespace and serves
  // each request with `handler`. Returns the bound port.
  Result<uint16_t> listen(const std::string& key, ListenerOptions options, std::shared_ptr<Handler> handler);
  // Stops accepting on `key` (new connections are refused at once; requests in flight finish). No-op
  // for an unknown key. Never call it from a handler.
  void close(const std::string& key);
  bool is_open(const std::string& key) const;
  std::optional<uint16_t> port(const std::string& key) const;
  size_t connections() const;  // open now, all listeners

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::http
