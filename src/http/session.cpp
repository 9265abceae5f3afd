// One Session per connection, all of its handlers on its own strand. A streamed reply (watch)
// writes chunks from a queue and keeps one read outstanding to notice the client hanging up. This
// is the file where Beast's HTTP and WebSocket operations are compiled, once, over the erased
// Stream (stream.h).
#include "http/session.h"

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <deque>
#include <optional>

#include "http/websocket.h"

namespace podnet::http::detail {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = beast::websocket;

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
  explicit ConnectionSlot(std::shared_ptr<ConnectionCounters> counters) : counters_(std::move(counters)) {}
  ~ConnectionSlot() {
    --counters_->listener;
    --*counters_->server;
  }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  std::shared_ptr<ConnectionCounters> counters_;
};

class Session : public std::enable_shared_from_this<Session>,
                public ChunkSink,
                public WebSocketPeer,
                public SessionControl {
 public:
  Session(std::unique_ptr<Stream> stream, SessionSettings settings)
      : slot_(settings.counters), stream_(std::move(stream)), settings_(std::move(settings)) {}

  void run() {
    net::dispatch(stream_->get_executor(), [self = shared_from_this()] {
      self->stream_->expires_after(self->settings_.handshake_timeout);
      self->stream_->async_handshake([self](beast::error_code ec) { self->on_handshake(ec); });
    });
  }

  void write(std::string chunk) override {
    net::post(stream_->get_executor(), [self = shared_from_this(), chunk = std::move(chunk)]() mutable {
      self->queued_bytes_ += chunk.size();
      self->queue_.push_back(std::move(chunk));
      if (self->queued_bytes_ > kStreamQueueLimit) return self->abort();
      self->pump();
    });
  }

  // Closes the connection from the server side (shutdown); runs on the session's strand.
  void shutdown() override {
    net::post(stream_->get_executor(), [self = shared_from_this()] { self->abort(); });
  }

  void finish() override {
    net::post(stream_->get_executor(), [self = shared_from_this()] {
      self->finishing_ = true;
      self->pump();
    });
  }

  // WebSocketPeer.
  void send(std::string message) override {
    ws_queued_ += message.size();
    net::post(stream_->get_executor(), [self = shared_from_this(), m = std::move(message)]() mutable {
      self->ws_out_.push_back(std::move(m));
      if (self->ws_queued_ > kWebSocketQueueLimit) return self->abort();
      self->ws_pump();
    });
  }
  size_t queued_bytes() const override { return ws_queued_.load(); }
  void read_next() override {
    net::post(stream_->get_executor(), [self = shared_from_this()] { self->ws_read(); });
  }
  void end() override {
    net::post(stream_->get_executor(), [self = shared_from_this()] {
      self->ws_closing_ = true;
      self->ws_pump();
    });
  }

 private:
  void on_handshake(beast::error_code ec) {
    if (ec) return;  // failed handshakes (port scans, untrusted certs) are not worth a log line each
    identity_ = stream_->identity();
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(settings_.body_limit);
    parser_->header_limit(static_cast<uint32_t>(settings_.header_limit));
    stream_->expires_after(settings_.idle_timeout);
    http::async_read(*stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      Reply reply = settings_.handler->too_large(settings_.body_limit);
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
      return settings_.handler->handle(request);
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
    http::async_write(*stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
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
    stream_->expires_never();  // a watch may be quiet for minutes
    head_serializer_.emplace(head_);
    writing_ = true;
    http::async_write_header(*stream_, *head_serializer_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               self->writing_ = false;
                               // closed_: shut down while the header was in flight; starting the
                               // body now would leave it and this session owning each other.
                               if (ec || self->closed_) return self->abort();
                               self->probe();
                               self->body_->start(self->stream_->get_executor(), self);
                               self->pump();
                             });
  }

  // The connection becomes a WebSocket (Beast's, with its own handshake and idle timeouts: pings at
  // half the idle time, closed when nothing came back) and the handler takes over its messages.
  void start_websocket(http::request<http::string_body> req, std::shared_ptr<WebSocketUpgrade> upgrade) {
    ws_handler_ = std::move(upgrade->handler);
    upgrade_request_ = std::move(req);
    stream_->expires_never();
    ws_.emplace(*stream_);
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = settings_.handshake_timeout;
    timeouts.idle_timeout = settings_.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_->set_option(timeouts);
    ws_->set_option(
        websocket::stream_base::decorator([protocol = upgrade->protocol](websocket::response_type& res) {
          if (!protocol.empty()) res.set(http::field::sec_websocket_protocol, protocol);
        }));
    ws_->binary(true);
    ws_->read_message_max(kWebSocketMessageMax);
    ws_->async_accept(*upgrade_request_, [self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return self->abort();
      self->ws_handler_->start(self);
      self->ws_read();
    });
  }

  // The connection carries another protocol after the 101 (plain SPDY/3.1): the handler gets the
  // bytes as they arrive (what came with the request first) and sends bytes back.
  void start_raw(http::response<http::string_body> msg, std::shared_ptr<WebSocketUpgrade> upgrade) {
    ws_handler_ = std::move(upgrade->handler);
    raw_ = true;
    stream_->expires_never();
    auto res = std::make_shared<http::response<http::string_body>>(std::move(msg));
    res->body().clear();
    http::async_write(*stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
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
      stream_->async_read_some(net::buffer(raw_in_),
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
        net::async_write(*stream_, net::buffer(*data),
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
    stream_->async_read_some(net::buffer(probe_buf_),
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
      net::async_write(*stream_, http::make_chunk(net::const_buffer(data->data(), data->size())),
                       [self = shared_from_this(), data](beast::error_code ec, size_t) {
                         self->writing_ = false;
                         if (ec) return self->abort();
                         self->pump();
                       });
    } else if (finishing_) {
      writing_ = true;
      net::async_write(*stream_, http::make_chunk_last(),
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

  void close() { stream_->close(); }

  ConnectionSlot slot_;  // first: released after the socket is closed
  std::unique_ptr<Stream> stream_;
  SessionSettings settings_;
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
  std::optional<websocket::stream<Stream&>> ws_;
  std::shared_ptr<WebSocketHandler> ws_handler_;
  beast::flat_buffer ws_in_;
  std::deque<std::string> ws_out_;
  std::atomic<size_t> ws_queued_{0};
  bool ws_reading_ = false, ws_writing_ = false, ws_closing_ = false;
  bool raw_ = false;  // upgraded to a byte stream, not a WebSocket
  std::array<char, 32 * 1024> raw_in_;
};

}  // namespace

std::shared_ptr<SessionControl> start_session(std::unique_ptr<Stream> stream, SessionSettings settings) {
  ++settings.counters->listener;
  ++*settings.counters->server;
  auto session = std::make_shared<Session>(std::move(stream), std::move(settings));
  session->run();
  return session;
}

}  // namespace podnet::http::detail
