// Plain-HTTP listeners for the proxy's small endpoints (health checks, /healthz, /metrics): any
// number of ports opened and closed at run time, served by one thread of the one server transport
// (src/http: keep-alive, limits, graceful stop).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace podnet::http {
class Server;
}

namespace podnet::proxy {

struct HttpReply {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};
// Called on the listeners' thread with the request target ("/healthz?x=1"), for every method.
using HttpHandler = std::function<HttpReply(const std::string& target)>;

class HttpListeners {
 public:
  HttpListeners();
  ~HttpListeners();  // closes every listener and connection
  HttpListeners(const HttpListeners&) = delete;
  HttpListeners& operator=(const HttpListeners&) = delete;

  // Listens on `endpoint` (port 0: any) under `key`, replacing nothing: the key must be free. The
  // socket is made in the calling thread's network namespace. Returns the bound port.
  Result<uint16_t> open(const std::string& key, const boost::asio::ip::tcp::endpoint& endpoint,
                        HttpHandler handler);
  // Stops accepting on `key`'s port; requests in flight finish. No-op for an unknown key.
  void close(const std::string& key);
  bool is_open(const std::string& key) const;

 private:
  std::unique_ptr<http::Server> server_;
};

}  // namespace podnet::proxy
