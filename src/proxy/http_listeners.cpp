// One io_context thread; each connection reads a request, answers from its handler, and keeps the
// connection while the client asks for it (load balancers probe every few seconds).
#include "proxy/http_listeners.h"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <future>

namespace podnet::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<const HttpHandler> handler)
      : stream_(std::move(socket)), handler_(std::move(handler)) {}
  void read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) self->answer();
    });
  }

 private:
  void answer() {
    HttpReply reply = (*handler_)(std::string(req_.target()));
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(reply.status),
                                                                   req_.version());
    res->set(http::field::content_type, reply.content_type);
    for (const auto& [k, v] : reply.headers) res->set(k, v);
    res->keep_alive(req_.keep_alive());
    if (req_.method() != http::verb::head) res->body() = std::move(reply.body);
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec) return;
      if (res->keep_alive())
        self->read();
      else
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::shared_ptr<const HttpHandler> handler_;
};

}  // namespace

struct HttpListeners::Listener : std::enable_shared_from_this<Listener> {
  Listener(asio::io_context& io, HttpHandler h)
      : acceptor(io), handler(std::make_shared<HttpHandler>(std::move(h))) {}
  void accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (!ec) std::make_shared<Session>(std::move(socket), self->handler)->read();
      self->accept();
    });
  }
  tcp::acceptor acceptor;
  std::shared_ptr<const HttpHandler> handler;
};

HttpListeners::HttpListeners() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

HttpListeners::~HttpListeners() {
  {
    std::lock_guard l(mu_);
    for (auto& [_, listener] : listeners_) asio::post(io_, [listener] { listener->acceptor.close(); });
    listeners_.clear();
  }
  work_.reset();
  io_.stop();
  thread_.join();
}

Result<uint16_t> HttpListeners::open(const std::string& key, const tcp::endpoint& endpoint,
                                     HttpHandler handler) {
  std::lock_guard l(mu_);
  if (listeners_.count(key)) return fail("listen " + key, EEXIST);
  auto listener = std::make_shared<Listener>(io_, std::move(handler));
  auto& acc = listener->acceptor;
  beast::error_code ec;
  const std::string what =
      "listen on " + endpoint.address().to_string() + " port " + std::to_string(endpoint.port());
  acc.open(endpoint.protocol(), ec);
  if (ec) return fail(what, ec.value());
  acc.set_option(asio::socket_base::reuse_address(true), ec);
  // [::] serves IPv4 clients too, as kube-proxy's Go listeners do.
  if (endpoint.address().is_v6() && endpoint.address().is_unspecified())
    acc.set_option(asio::ip::v6_only(false), ec);
  acc.bind(endpoint, ec);
  if (ec) return fail(what, ec.value());
  acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(what, ec.value());
  const uint16_t port = acc.local_endpoint(ec).port();
  listeners_.emplace(key, listener);
  asio::post(io_, [listener] { listener->accept(); });
  return port;
}

void HttpListeners::close(const std::string& key) {
  std::lock_guard l(mu_);
  auto it = listeners_.find(key);
  if (it == listeners_.end()) return;
  // Waits for the close, so the port can be listened on again at once (never called on io_'s thread).
  std::promise<void> closed;
  asio::post(io_, [listener = it->second, &closed] {
    listener->acceptor.close();
    closed.set_value();
  });
  closed.get_future().wait();
  listeners_.erase(it);
}

bool HttpListeners::is_open(const std::string& key) const {
  std::lock_guard l(mu_);
  return listeners_.count(key) != 0;
}

}  // namespace podnet::proxy
