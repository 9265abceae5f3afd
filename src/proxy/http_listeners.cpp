// Each listener is a plain listener of one http::Server (one thread); its handler answers from the
// proxy's function, keeping the connection while the client asks for it (load balancers probe every
// few seconds).
#include "proxy/http_listeners.h"

#include "http/server.h"

namespace podnet::proxy {
namespace {

namespace beast_http = boost::beast::http;

class FunctionHandler final : public http::Handler {
 public:
  explicit FunctionHandler(HttpHandler fn) : fn_(std::move(fn)) {}
  http::Reply handle(http::Request& request) override {
    HttpReply reply = fn_(std::string(request.msg.target()));
    http::Reply out;
    out.msg.result(static_cast<beast_http::status>(reply.status));
    out.msg.set(beast_http::field::content_type, reply.content_type);
    for (const auto& [k, v] : reply.headers) out.msg.set(k, v);
    if (request.msg.method() != beast_http::verb::head) out.msg.body() = std::move(reply.body);
    return out;
  }
  http::Reply too_large(size_t) override {
    http::Reply out;
    out.msg.result(beast_http::status::payload_too_large);
    out.msg.set(beast_http::field::content_type, "text/plain; charset=utf-8");
    out.msg.body() = "request too large\n";
    return out;
  }

 private:
  HttpHandler fn_;
};

}  // namespace

HttpListeners::HttpListeners() : server_(std::make_unique<http::Server>(1)) {}

HttpListeners::~HttpListeners() = default;

Result<uint16_t> HttpListeners::open(const std::string& key, const boost::asio::ip::tcp::endpoint& endpoint,
                                     HttpHandler handler) {
  http::ListenerOptions options;
  options.endpoint = endpoint;
  options.body_limit = 64 * 1024;  // probes and scrapes send no body
  options.header_limit = 16 * 1024;
  options.max_connections = 1024;
  options.idle_timeout = std::chrono::seconds(30);
  auto port = server_->listen(key, std::move(options), std::make_shared<FunctionHandler>(std::move(handler)));
  if (!port)
    return fail("listen on " + endpoint.address().to_string() + " port " + std::to_string(endpoint.port()),
                port.error().code);
  return *port;
}

void HttpListeners::close(const std::string& key) {
  server_->close(key);
}

bool HttpListeners::is_open(const std::string& key) const {
  return server_->is_open(key);
}

}  // namespace podnet::proxy
