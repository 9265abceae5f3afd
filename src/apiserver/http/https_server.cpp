// One Session per TLS connection, all of its handlers on its own strand. A streamed reply (watch)
// writes chunks from a queue and keeps one read outstanding to notice the client hanging up.
#include "apiserver/http/https_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cerrno>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "apiserver/http/websocket_upgrade.h"
#include "common/tls_policy.h"

namespace podnet::apiserver {
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// How long after a remote command's 101 its handler starts (see start_websocket).
constexpr auto kRemoteCommandSettle = std::chrono::milliseconds(30);
constexpr auto kIdleTimeout = std::chrono::seconds(120);
constexpr size_t kHeaderLimit = 64 * 1024;
// A watcher this far behind is cut off (kube does the same) rather than growing the queue without
// bound; it re-lists and re-watches.
constexpr size_t kStreamQueueLimit = 16 * 1024 * 1024;
// A WebSocket message from a client (stdin of exec): larger ones close the connection. One channel
// byte plus 1 MiB: python3-kubernetes' port-forward sends what one recv(1 MiB) of its socket gave,
// which under load is all of 1 MiB (the relay's node frames carry up to 1 MiB of payload).
constexpr size_t kWebSocketMessageMax = (1 << 20) + 1;
// What a WebSocket handler may leave queued for a client that does not read (it pauses its source at
// a fraction of this; past it the connection is cut).
constexpr size_t kWebSocketQueueLimit = 64 * 1024 * 1024;

// Counts a connection from accept until its session is destroyed (its socket closed).
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::atomic<size_t>& open) : open_(open) { ++open_; }
  ~ConnectionSlot() { --open_; }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  std::atomic<size_t>& open_;
};

class Session : public std::enable_shared_from_this<Session>, public ChunkSink, public WebSocketPeer {
 public:
  Session(tcp::socket socket, ssl::context& ctx, HttpHandler& handler, size_t body_limit,
          std::atomic<size_t>& open)
      : slot_(open), stream_(std::move(socket), ctx), handler_(handler), body_limit_(body_limit) {}

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      beast::get_lowest_layer(self->stream_).expires_after(kHandshakeTimeout);
      self->stream_.async_handshake(ssl::stream_base::server,
                                    [self](beast::error_code ec) { self->on_handshake(ec); });
    });
  }

  void write(std::string chunk) override {
    net::post(stream_.get_executor(), [self = shared_from_this(), chunk = std::move(chunk)]() mutable {
      self->queued_bytes_ += chunk.size();
      self->queue_.push_back(std::move(chunk));
      if (self->queued_bytes_ > kStreamQueueLimit) return self->abort();
      self->pump();
    });
  }

  // Closes the connection from the server side (shutdown); runs on the session's strand.
  void shutdown() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->abort(); });
  }

  void finish() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->finishing_ = true;
      self->pump();
    });
  }

  // WebSocketPeer.
  void send(std::string message) override {
    ws_queued_ += message.size();
    net::post(stream_.get_executor(), [self = shared_from_this(), m = std::move(message)]() mutable {
      self->ws_out_.push_back(std::move(m));
      if (self->ws_queued_ > kWebSocketQueueLimit) return self->abort();
      self->ws_pump();
    });
  }
  size_t queued_bytes() const override { return ws_queued_.load(); }
  void read_next() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->ws_read(); });
  }
  void end() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->ws_closing_ = true;
      self->ws_pump();
    });
  }

 private:
  void on_handshake(beast::error_code ec) {
    if (ec) return;  // failed handshakes (port scans, untrusted certs) are not worth a log line each
    SSL* ssl = stream_.native_handle();
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      // verify_peer without fail_if_no_peer_cert: a presented certificate was verified during the
      // handshake (or it failed); this check keeps a future verify callback from weakening that.
      if (SSL_get_verify_result(ssl) == X509_V_OK) {
        Subject subject = subject_of(peer);
        identity_ = {true, subject.common_name, subject.organizations};
      }
      X509_free(peer);
    }
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(body_limit_);
    parser_->header_limit(kHeaderLimit);
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      Reply reply = handler_.too_large(body_limit_);
      reply.msg.keep_alive(false);  // the rest of the body is still in flight: do not parse it
      return send(std::move(reply.msg));
    }
    if (ec) return close();
    Request request{parser_->release(), identity_};
    bool keep_alive = request.msg.keep_alive();
    unsigned version = request.msg.version();
    Reply reply = handle(request);
    reply.msg.version(version);
    if (auto upgrade = std::dynamic_pointer_cast<WebSocketUpgrade>(reply.stream))
      return upgrade->raw ? start_raw(std::move(reply.msg), std::move(upgrade))
                          : start_websocket(std::move(request.msg), std::move(upgrade));
    if (reply.stream) return start_stream(std::move(reply));
    reply.msg.keep_alive(keep_alive);
    send(std::move(reply.msg));
  }

  // The API layer returns errors as values; this is the edge where a stray exception (Boost.JSON,
  // std::bad_alloc) becomes a 500 instead of taking the io thread down.
  Reply handle(Request& request) {
    try {
      return handler_.handle(request);
    } catch (const std::exception& e) {
      Reply r;
      r.msg.result(http::status::internal_server_error);
      r.msg.set(http::field::content_type, "text/plain");
      r.msg.body() = std::string("internal error: ") + e.what();
      return r;
    }
  }

  void send(http::response<http::string_body> msg) {
    auto res = std::make_shared<http::response<http::string_body>>(std::move(msg));
    // 1xx, 204 and 304 have no body and carry no Content-Length (RFC 9110 8.6); Beast's
    // prepare_payload would write "Content-Length: 0" there, or throw for a non-empty body.
    auto code = res->result();
    if (http::to_status_class(code) == http::status_class::informational ||
        code == http::status::no_content || code == http::status::not_modified) {
      res->body().clear();
      res->erase(http::field::content_length);
      res->erase(http::field::transfer_encoding);
    } else {
      res->prepare_payload();
    }
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec || !res->keep_alive()) return self->close();
      self->do_read();
    });
  }

  void start_stream(Reply reply) {
    body_ = std::move(reply.stream);
    head_.result(reply.msg.result());
    head_.version(reply.msg.version());
    for (const auto& field : reply.msg) head_.set(field.name_string(), field.value());
    head_.chunked(true);
    head_.keep_alive(false);
    beast::get_lowest_layer(stream_).expires_never();  // a watch may be quiet for minutes
    head_serializer_.emplace(head_);
    writing_ = true;
    http::async_write_header(stream_, *head_serializer_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               self->writing_ = false;
                               // closed_: shut down while the header was in flight; starting the
                               // body now would leave it and this session owning each other.
                               if (ec || self->closed_) return self->abort();
                               self->probe();
                               self->body_->start(self->stream_.get_executor(), self);
                               self->pump();
                             });
  }

  // The connection becomes a WebSocket (Beast's, with its own handshake and idle timeouts: pings at
  // half the idle time, closed when nothing came back) and the handler takes over its messages.
  void start_websocket(http::request<http::string_body> req, std::shared_ptr<WebSocketUpgrade> upgrade) {
    ws_handler_ = std::move(upgrade->handler);
    upgrade_request_ = std::move(req);
    beast::get_lowest_layer(stream_).expires_never();
    ws_.emplace(stream_);
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = kHandshakeTimeout;
    timeouts.idle_timeout = kIdleTimeout;
    timeouts.keep_alive_pings = true;
    ws_->set_option(timeouts);
    ws_->set_option(
        websocket::stream_base::decorator([protocol = upgrade->protocol](websocket::response_type& res) {
          if (!protocol.empty()) res.set(http::field::sec_websocket_protocol, protocol);
        }));
    ws_->binary(true);
    ws_->read_message_max(kWebSocketMessageMax);
    // kubectl <= 1.32 (client-go before kubernetes#131203) starts reading the remote command's
    // WebSocket before it has made its streams, and drops what arrives for a stream it does not
    // have yet: a command that ends at once (its output and exit status sent with the 101) loses
    // both, and kubectl fails with "closed all streams". kube-apiserver never shows it because its
    // kubelet connection is made after the 101; here the node session is open before it, so the
    // handler starts a little after the 101 for the remote command protocols.
    const bool settle = upgrade->protocol.find("channel.k8s.io") != std::string::npos;
    ws_->async_accept(*upgrade_request_, [self = shared_from_this(), settle](beast::error_code ec) {
      if (ec || self->closed_) return self->abort();
      if (!settle) return self->start_ws_handler();
      auto timer = std::make_shared<net::steady_timer>(self->stream_.get_executor(), kRemoteCommandSettle);
      timer->async_wait([self, timer](beast::error_code) {
        if (self->closed_) return self->abort();
        self->start_ws_handler();
      });
    });
  }

  void start_ws_handler() {
    ws_handler_->start(shared_from_this());
    ws_read();
  }

  // The connection carries another protocol after the 101 (plain SPDY/3.1): the handler gets the
  // bytes as they arrive (what came with the request first) and sends bytes back.
  void start_raw(http::response<http::string_body> msg, std::shared_ptr<WebSocketUpgrade> upgrade) {
    ws_handler_ = std::move(upgrade->handler);
    raw_ = true;
    beast::get_lowest_layer(stream_).expires_never();
    auto res = std::make_shared<http::response<http::string_body>>(std::move(msg));
    res->body().clear();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec || self->closed_) return self->abort();
      self->ws_handler_->start(self);
      if (self->buffer_.size() > 0) {
        std::string early = beast::buffers_to_string(self->buffer_.data());
        self->buffer_.consume(self->buffer_.size());
        self->ws_handler_->on_message(std::move(early));
      } else {
        self->ws_read();
      }
    });
  }

  void ws_read() {
    if (raw_ && !ws_reading_ && !closed_) {
      ws_reading_ = true;
      stream_.async_read_some(net::buffer(raw_in_),
                              [self = shared_from_this()](beast::error_code ec, size_t n) {
                                self->ws_reading_ = false;
                                if (ec) return self->abort();
                                if (self->ws_handler_)
                                  self->ws_handler_->on_message(std::string(self->raw_in_.data(), n));
                              });
      return;
    }
    if (ws_reading_ || closed_ || !ws_) return;
    ws_reading_ = true;
    ws_->async_read(ws_in_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->ws_reading_ = false;
      if (ec) return self->abort();
      std::string message = beast::buffers_to_string(self->ws_in_.data());
      self->ws_in_.clear();
      if (self->ws_handler_) self->ws_handler_->on_message(std::move(message));
    });
  }

  void ws_pump() {
    if (raw_ && !ws_writing_ && !closed_) {
      if (!ws_out_.empty()) {
        auto data = std::make_shared<std::string>(std::move(ws_out_.front()));
        ws_out_.pop_front();
        ws_writing_ = true;
        net::async_write(stream_, net::buffer(*data),
                         [self = shared_from_this(), data](beast::error_code ec, size_t) {
                           self->ws_writing_ = false;
                           self->ws_queued_ -= data->size();
                           if (ec) return self->abort();
                           self->ws_pump();
                         });
      } else if (ws_closing_) {
        abort();
      }
      return;
    }
    if (ws_writing_ || closed_ || !ws_) return;
    if (!ws_out_.empty()) {
      auto data = std::make_shared<std::string>(std::move(ws_out_.front()));
      ws_out_.pop_front();
      ws_writing_ = true;
      ws_->async_write(net::buffer(*data), [self = shared_from_this(), data](beast::error_code ec, size_t) {
        self->ws_writing_ = false;
        self->ws_queued_ -= data->size();
        if (ec) return self->abort();
        self->ws_pump();
      });
    } else if (ws_closing_) {
      ws_writing_ = true;
      ws_->async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code) {
        self->ws_writing_ = false;
        self->abort();
      });
    }
  }

  // Clients send nothing during a stream; a completed read means they hung up (or misbehave).
  void probe() {
    stream_.async_read_some(net::buffer(probe_buf_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->abort();
                              self->probe();
                            });
  }

  void pump() {
    if (writing_ || closed_ || !body_) return;
    if (!queue_.empty()) {
      auto data = std::make_shared<std::string>(std::move(queue_.front()));
      queue_.pop_front();
      queued_bytes_ -= data->size();
      writing_ = true;
      net::async_write(stream_, http::make_chunk(net::const_buffer(data->data(), data->size())),
                       [self = shared_from_this(), data](beast::error_code ec, size_t) {
                         self->writing_ = false;
                         if (ec) return self->abort();
                         self->pump();
                       });
    } else if (finishing_) {
      writing_ = true;
      net::async_write(stream_, http::make_chunk_last(),
                       [self = shared_from_this()](beast::error_code, size_t) {
                         self->writing_ = false;
                         self->abort();
                       });
    }
  }

  void abort() {
    if (closed_) return;
    closed_ = true;
    if (body_) body_->stop();
    if (ws_handler_) std::exchange(ws_handler_, nullptr)->on_closed();
    close();
  }

  void close() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  ConnectionSlot slot_;  // first: released after the socket is closed
  beast::ssl_stream<beast::tcp_stream> stream_;
  HttpHandler& handler_;
  size_t body_limit_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Identity identity_;
  // Streaming state.
  std::shared_ptr<StreamBody> body_;
  http::response<http::empty_body> head_;
  std::optional<http::response_serializer<http::empty_body>> head_serializer_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool finishing_ = false;
  bool closed_ = false;
  std::array<char, 512> probe_buf_;
  // WebSocket state (after an upgrade).
  std::optional<http::request<http::string_body>> upgrade_request_;
  std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>&>> ws_;
  std::shared_ptr<WebSocketHandler> ws_handler_;
  beast::flat_buffer ws_in_;
  std::deque<std::string> ws_out_;
  std::atomic<size_t> ws_queued_{0};
  bool ws_reading_ = false, ws_writing_ = false, ws_closing_ = false;
  bool raw_ = false;  // upgraded to a byte stream, not a WebSocket
  std::array<char, 32 * 1024> raw_in_;
};

}  // namespace

struct HttpsServer::Impl {
  Impl(HttpsServerOptions opts, HttpHandler& h)
      : options(std::move(opts)),
        handler(h),
        ctx(ssl::context::tls_server),
        acceptor(net::make_strand(ioc)),
        backoff_timer(acceptor.get_executor()) {}

  // Out of file descriptors or memory: waiting is the only cure (a connection closing frees one);
  // accepting again at once would spin a core on the same error.
  static bool resource_shortage(const beast::error_code& ec) {
    int e = ec.category() == boost::system::system_category() ? ec.value() : 0;
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
  }

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (resource_shortage(ec)) {
        ++accept_backoffs;
        backoff = backoff.count() == 0 ? std::chrono::milliseconds(5)
                                       : std::min(backoff * 2, std::chrono::milliseconds(1000));
        backoff_timer.expires_after(backoff);
        backoff_timer.async_wait([this](beast::error_code wait_ec) {
          if (!wait_ec && acceptor.is_open()) accept();
        });
        return;
      }
      backoff = std::chrono::milliseconds(0);
      if (!ec) {
        if (open_connections.load() >= options.max_connections) {
          ++refused_connections;
          beast::error_code ignored;
          socket.close(ignored);
          return accept();
        }
        // Responses go out as several TLS records; without this, Nagle's algorithm holds the last
        // one back until the client's delayed ACK (40 ms per request).
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto session =
            std::make_shared<Session>(std::move(socket), ctx, handler, options.body_limit, open_connections);
        track(session);
        session->run();
      }
      accept();
    });
  }

  void track(const std::shared_ptr<Session>& session) {
    std::lock_guard lock(sessions_mu);
    std::erase_if(sessions, [](const auto& w) { return w.expired(); });
    sessions.push_back(session);
  }

  // Closes every connection and waits (bounded) for the sessions to let go of their streams, so no
  // watch outlives the server with a callback into a destroyed io_context.
  void close_all() {
    std::vector<std::weak_ptr<Session>> live;
    {
      std::lock_guard lock(sessions_mu);
      live = sessions;
    }
    for (const auto& w : live)
      if (auto s = w.lock()) s->shutdown();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline &&
           std::any_of(live.begin(), live.end(), [](const auto& w) { return !w.expired(); }))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  HttpsServerOptions options;
  HttpHandler& handler;
  net::io_context ioc;
  ssl::context ctx;
  tcp::acceptor acceptor;
  net::steady_timer backoff_timer;  // on the acceptor's strand
  std::chrono::milliseconds backoff{0};
  std::atomic<size_t> open_connections{0};
  std::atomic<size_t> refused_connections{0};
  std::atomic<size_t> accept_backoffs{0};
  std::vector<std::thread> threads;
  std::mutex sessions_mu;
  std::vector<std::weak_ptr<Session>> sessions;
};

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpsServer::~HttpsServer() {
  std::promise<void> closed;
  net::post(impl_->acceptor.get_executor(), [impl = impl_.get(), &closed] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->backoff_timer.cancel();
    closed.set_value();
  });
  closed.get_future().wait();
  impl_->close_all();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  // Destroying the io_context destroys pending handlers and with them the sessions and streams.
}

uint16_t HttpsServer::port() const {
  return impl_->acceptor.local_endpoint().port();
}

size_t HttpsServer::connections() const {
  return impl_->open_connections.load();
}

Result<std::unique_ptr<HttpsServer>> HttpsServer::start(HttpsServerOptions options, HttpHandler& handler) {
  auto impl = std::make_unique<Impl>(std::move(options), handler);
  auto& ctx = impl->ctx;
  beast::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                  ec);
  if (auto policy = apply_tls_policy(ctx.native_handle()); !policy) return std::unexpected(policy.error());
  const auto& opts = impl->options;
  if (!ec) ctx.use_certificate_chain(net::buffer(opts.serving.cert_pem), ec);
  if (!ec) ctx.use_private_key(net::buffer(opts.serving.key_pem), ssl::context::pem, ec);
  if (!ec) ctx.add_certificate_authority(net::buffer(opts.client_ca_pem), ec);
  // Ask for a certificate but let anonymous clients in: they get 401 from the API layer, as kube does.
  if (!ec) ctx.set_verify_mode(ssl::verify_peer, ec);
  if (ec) return fail_msg("TLS context: " + ec.message());

  auto address = net::ip::make_address(opts.bind_address, ec);
  if (ec) return fail_msg("bind address " + opts.bind_address + ": " + ec.message());
  tcp::endpoint endpoint(address, opts.port);
  auto& acc = impl->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(endpoint.address().to_string() + ":" + std::to_string(endpoint.port()) + ": " + ec.message(),
                ec.value());
  impl->accept();
  for (int i = 0; i < std::max(1, opts.threads); ++i)
    impl->threads.emplace_back([ioc = &impl->ioc] { ioc->run(); });
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

}  // namespace podnet::apiserver
