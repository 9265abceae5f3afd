// What the server transport hands to a handler and gets back: a parsed request with the caller's
// verified identity, and a reply that is either a complete response or a chunked stream (watch).
// Shared by every podnet HTTP server (API server, proxy health and metrics); knows no Kubernetes.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <string>
#include <vector>

namespace podnet::http {

namespace beast_http = boost::beast::http;

// From the client certificate the TLS handshake verified against the configured client CA.
struct Identity {
  bool authenticated = false;       // false: no (valid) certificate, i.e. anonymous (or plain HTTP)
  std::string user;                 // certificate CN
  std::vector<std::string> groups;  // certificate O values
};

struct Request {
  beast_http::request<beast_http::string_body> msg;
  Identity identity;
};

// Where a streaming body writes. Safe to call from any thread; chunks are sent in call order.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  virtual void write(std::string chunk) = 0;
  virtual void finish() = 0;  // the terminating chunk; the connection then closes
};

// A response body produced over time. start() runs once the headers are on the wire; stop() when the
// client went away or the server shuts down (no further sink calls are needed then).
class StreamBody {
 public:
  virtual ~StreamBody() = default;
  virtual void start(boost::asio::any_io_executor executor, std::shared_ptr<ChunkSink> sink) = 0;
  virtual void stop() = 0;
};

struct Reply {
  beast_http::response<beast_http::string_body> msg;  // for a stream: status and headers only
  std::shared_ptr<StreamBody> stream;
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Called on one of the server's threads. A thrown exception becomes a 500 (the edge).
  virtual Reply handle(Request& request) = 0;
  // The body exceeded the listener's limit (nothing of it was processed).
  virtual Reply too_large(size_t limit) = 0;
};

}  // namespace podnet::http
