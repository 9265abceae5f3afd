// The one server transport (src/http) through real sockets on 127.0.0.1, plain listeners (TLS is
// covered by every API server test): keep-alive, the body limit, the connection cap, opening and
// closing listeners at run time, a chunked stream stopped by the server's graceful stop.
#include "http/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <string>

namespace podnet::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

class EchoHandler : public Handler {
 public:
  Reply handle(Request& request) override {
    ++calls;
    Reply r;
    r.msg.result(bhttp::status::ok);
    r.msg.set(bhttp::field::content_type, "text/plain");
    r.msg.body() = std::string(request.msg.target()) + " " + request.msg.body();
    return r;
  }
  Reply too_large(size_t limit) override {
    Reply r;
    r.msg.result(bhttp::status::payload_too_large);
    r.msg.body() = "over " + std::to_string(limit);
    return r;
  }
  std::atomic<int> calls{0};
};

// A blocking client connection.
class Client {
 public:
  explicit Client(uint16_t port) : socket_(ioc_) {
    boost::system::error_code ec;
    socket_.connect({net::ip::make_address("127.0.0.1"), port}, ec);
    ok_ = !ec;
  }
  bool ok() const { return ok_; }
  void send(bhttp::verb verb, const std::string& target, const std::string& body = "", bool close = false) {
    bhttp::request<bhttp::string_body> req(verb, target, 11);
    req.set(bhttp::field::host, "localhost");
    req.body() = body;
    req.keep_alive(!close);
    req.prepare_payload();
    boost::system::error_code ec;
    bhttp::write(socket_, req, ec);
  }
  // Status 0: the connection ended.
  bhttp::response<bhttp::string_body> read() {
    bhttp::response<bhttp::string_body> res;
    boost::system::error_code ec;
    bhttp::read(socket_, buffer_, res, ec);
    if (ec) res = bhttp::response<bhttp::string_body>(bhttp::status::unknown, 11);
    return res;
  }
  // Reads whatever still comes until the server closes; false when it did not within 10 s.
  bool closed_by_peer() {
    timeval tv{10, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    for (;;) {
      boost::system::error_code ec;
      socket_.read_some(net::buffer(buf), ec);
      if (ec) return ec == net::error::eof || ec == net::error::connection_reset;
    }
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  bool ok_ = false;
};

ListenerOptions plain() {
  ListenerOptions o;
  o.endpoint = {net::ip::make_address("127.0.0.1"), 0};
  return o;
}

TEST(HttpServer, PlainListenerKeepsTheConnectionAlive) {
  Server server(1);
  auto handler = std::make_shared<EchoHandler>();
  auto port = server.listen("a", plain(), handler);
  ASSERT_TRUE(port) << port.error().message();
  Client c(*port);
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 3; ++i) {
    c.send(bhttp::verb::post, "/x" + std::to_string(i), "b");
    auto res = c.read();
    ASSERT_EQ(res.result_int(), 200) << "request " << i << " on one connection";
    EXPECT_EQ(res.body(), "/x" + std::to_string(i) + " b");
    EXPECT_TRUE(res.keep_alive());
  }
  EXPECT_EQ(server.connections(), 1u);
  c.send(bhttp::verb::get, "/last", "", /*close=*/true);
  EXPECT_EQ(c.read().result_int(), 200);
  EXPECT_TRUE(c.closed_by_peer()) << "Connection: close is honoured";
  EXPECT_EQ(handler->calls, 4);
}

TEST(HttpServer, BodyOverTheLimitIs413AndClosed) {
  Server server(1);
  auto handler = std::make_shared<EchoHandler>();
  ListenerOptions o = plain();
  o.body_limit = 100;
  auto port = server.listen("a", o, handler);
  ASSERT_TRUE(port);
  Client c(*port);
  c.send(bhttp::verb::post, "/big", std::string(1000, 'x'));
  auto res = c.read();
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(res.body(), "over 100");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(handler->calls, 0) << "the handler never saw it";
}

TEST(HttpServer, ConnectionsPastTheCapAreClosedAtOnce) {
  Server server(1);
  auto handler = std::make_shared<EchoHandler>();
  ListenerOptions o = plain();
  o.max_connections = 2;
  auto port = server.listen("a", o, handler);
  ASSERT_TRUE(port);
  Client a(*port), b(*port);
  // Both served first, so both are counted before the third arrives.
  a.send(bhttp::verb::get, "/a");
  b.send(bhttp::verb::get, "/b");
  ASSERT_EQ(a.read().result_int(), 200);
  ASSERT_EQ(b.read().result_int(), 200);
  Client third(*port);
  EXPECT_TRUE(third.closed_by_peer()) << "a third connection past max_connections=2";
  a.send(bhttp::verb::get, "/again");
  EXPECT_EQ(a.read().result_int(), 200) << "the first two still work";
}

TEST(HttpServer, ListenersOpenAndCloseAtRunTime) {
  Server server(1);
  auto handler = std::make_shared<EchoHandler>();
  auto a = server.listen("a", plain(), handler);
  ASSERT_TRUE(a);
  auto again = server.listen("a", plain(), handler);
  ASSERT_FALSE(again) << "a key is taken once";
  EXPECT_EQ(again.error().code, EEXIST);
  auto b = server.listen("b", plain(), handler);
  ASSERT_TRUE(b);
  EXPECT_TRUE(server.is_open("a"));
  EXPECT_EQ(server.port("b"), *b);
  server.close("a");
  EXPECT_FALSE(server.is_open("a"));
  Client refused(*a);
  EXPECT_FALSE(refused.ok()) << "nothing listens on a's port any more";
  ListenerOptions same = plain();
  same.endpoint.port(*a);
  auto reopened = server.listen("a", same, handler);
  ASSERT_TRUE(reopened) << "the port is free again at once: " << reopened.error().message();
  Client c(*b);
  c.send(bhttp::verb::get, "/b");
  EXPECT_EQ(c.read().result_int(), 200);
}

// A stream that records its stop() and writes one chunk.
class OneChunk : public StreamBody {
 public:
  void start(boost::asio::any_io_executor, std::shared_ptr<ChunkSink> sink) override {
    sink->write("first\n");
    started.set_value();
  }
  void stop() override { stopped = true; }
  std::promise<void> started;
  std::atomic<bool> stopped{false};
};

TEST(HttpServer, StopEndsOpenStreams) {
  auto body = std::make_shared<OneChunk>();
  class StreamHandler : public EchoHandler {
   public:
    explicit StreamHandler(std::shared_ptr<OneChunk> b) : body(std::move(b)) {}
    Reply handle(Request&) override {
      Reply r;
      r.msg.result(bhttp::status::ok);
      r.stream = body;
      return r;
    }
    std::shared_ptr<OneChunk> body;
  };
  auto server = std::make_unique<Server>(2);
  auto port = server->listen("a", plain(), std::make_shared<StreamHandler>(body));
  ASSERT_TRUE(port);
  Client c(*port);
  c.send(bhttp::verb::get, "/watch");
  ASSERT_EQ(body->started.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  server.reset();
  EXPECT_TRUE(body->stopped) << "the server's stop reaches the stream";
  EXPECT_TRUE(c.closed_by_peer()) << "and closes the connection";
}

}  // namespace
}  // namespace podnet::http
