// NodeConnectionPool (apiserver/endpoints/node_dial.h): the API server's kept-open connections to
// node agents, against a real TLS node server on 127.0.0.1 that verifies the API server's client
// certificate: one handshake for many GETs when the node keeps connections alive, none kept when it
// closes them, a kept connection the node closed while idle dropped before use, a GET on a kept
// connection the node closes instead of answering sent once more on a fresh one, and a connection
// verified for one node never used for another at the same address.
#include "apiserver/endpoints/node_dial_pool.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "apiserver/auth/pki.h"

namespace podnet::apiserver {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// What the node does with a connection after an answer.
enum class NodeMode {
  kClose,          // "Connection: close", as the agent's node server did before keep-alive
  kKeepAlive,      // answers every request on the connection
  kCloseWhenIdle,  // answers with keep-alive, then closes the connection at once (an idle timeout)
  kDropSecondGet,  // answers the first GET, closes the connection when the second arrives
};

class NodeServer {
 public:
  NodeServer(const KeyPair& ca, NodeMode mode)
      : mode_(mode), acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    CertRequest req;
    req.common_name = "system:node:node1";
    req.organizations = {"system:nodes"};
    req.server_auth = true;
    req.ip_addresses = {"127.0.0.1"};
    auto serving = make_leaf(ca, req);
    EXPECT_TRUE(serving.has_value());
    tls_.use_certificate_chain(net::buffer(serving->cert_pem));
    tls_.use_private_key(net::buffer(serving->key_pem), ssl::context::pem);
    tls_.add_certificate_authority(net::buffer(ca.cert_pem));
    tls_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    acceptor_thread_ = std::thread([this] { accept_loop(); });
  }
  ~NodeServer() {
    stopping_ = true;
    boost::system::error_code ignored;
    tcp::socket wake(ioc_);
    wake.connect(acceptor_.local_endpoint(), ignored);
    acceptor_thread_.join();
    // The acceptor is gone: nothing adds sessions now (and they take mu_ themselves, so it is not
    // held here). Sessions only ever shut their socket down: the descriptor stays theirs until joined.
    for (auto& s : sessions_) ::shutdown(s.fd, SHUT_RDWR);
    for (auto& s : sessions_) s.thread.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted() {
    std::lock_guard l(mu_);
    return accepted_;
  }
  int answered() {
    std::lock_guard l(mu_);
    return answered_;
  }
  // Waits until `n` connections have been closed by this server (kCloseWhenIdle).
  bool wait_closed(int n) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, 5s, [&] { return closed_ >= n; });
  }

 private:
  struct Session {
    std::shared_ptr<ssl::stream<tcp::socket>> socket;
    int fd = -1;
    std::thread thread;
  };

  void accept_loop() {
    while (!stopping_) {
      auto socket = std::make_shared<ssl::stream<tcp::socket>>(ioc_, tls_);
      boost::system::error_code ec;
      acceptor_.accept(socket->next_layer(), ec);
      if (ec || stopping_) continue;
      std::lock_guard l(mu_);
      ++accepted_;
      auto& s = sessions_.emplace_back();
      s.socket = socket;
      s.fd = socket->lowest_layer().native_handle();
      s.thread = std::thread([this, socket] { serve(*socket); });
    }
  }

  void serve(ssl::stream<tcp::socket>& socket) {
    boost::system::error_code ec;
    socket.handshake(ssl::stream_base::server, ec);
    if (ec) return;
    boost::beast::flat_buffer buffer;
    for (int n = 0;; ++n) {
      http::request<http::empty_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      if (mode_ == NodeMode::kDropSecondGet && n == 1) {  // the idle timeout won the race
        ::shutdown(socket.lowest_layer().native_handle(), SHUT_RDWR);
        return;
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "application/json");
      res.body() = "{\"target\":\"" + std::string(req.target()) + "\"}";
      res.keep_alive(mode_ != NodeMode::kClose);
      res.prepare_payload();
      {
        std::lock_guard l(mu_);  // counted before the client can have the answer
        ++answered_;
      }
      http::write(socket, res, ec);
      if (ec) return;
      if (mode_ == NodeMode::kClose || mode_ == NodeMode::kCloseWhenIdle) {
        SSL_shutdown(socket.native_handle());  // close_notify, not waiting for the peer's
        ::shutdown(socket.lowest_layer().native_handle(), SHUT_RDWR);
        std::lock_guard l(mu_);
        ++closed_;
        cv_.notify_all();
        return;
      }
    }
  }

  NodeMode mode_;
  net::io_context ioc_;
  ssl::context tls_{ssl::context::tls_server};
  tcp::acceptor acceptor_;
  std::thread acceptor_thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::list<Session> sessions_;
  int accepted_ = 0, answered_ = 0, closed_ = 0;
};

class NodeDialPool : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = make_ca("podnet-test-ca");
    ASSERT_TRUE(ca.has_value());
    ca_ = *ca;
    CertRequest req;
    req.common_name = "kube-apiserver-kubelet-client";
    req.organizations = {"system:masters"};
    req.client_auth = true;
    auto client = make_leaf(ca_, req);
    ASSERT_TRUE(client.has_value());
    kubelet_ = {ca_.cert_pem, *client};
  }
  NodeAddress node(uint16_t port, const std::string& name = "node1") {
    NodeAddress a;
    a.node_name = name;
    a.address = net::ip::make_address("127.0.0.1");
    a.port = port;
    return a;
  }
  ApiResult<NodeGetReply> get(NodeConnectionPool& pool, const NodeAddress& a, const std::string& target) {
    return pool.get(a, kubelet_, target, "Get " + target, 5s, 1 << 20);
  }
  KeyPair ca_;
  KubeletClientTls kubelet_;
};

TEST_F(NodeDialPool, OneHandshakeForManyGetsWhenTheNodeKeepsConnectionsAlive) {
  NodeServer server(ca_, NodeMode::kKeepAlive);
  NodeConnectionPool pool;
  for (int i = 0; i < 5; ++i) {
    auto r = get(pool, node(server.port()), "/podnet/v1/routes?i=" + std::to_string(i));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->content_type, "application/json");
    EXPECT_EQ(r->body, "{\"target\":\"/podnet/v1/routes?i=" + std::to_string(i) + "\"}");
  }
  EXPECT_EQ(server.accepted(), 1);
  auto s = pool.stats();
  EXPECT_EQ(s.opened, 1u);
  EXPECT_EQ(s.reused, 4u);
  EXPECT_EQ(s.retried, 0u);
}

TEST_F(NodeDialPool, NothingKeptWhenTheNodeClosesEveryConnection) {
  NodeServer server(ca_, NodeMode::kClose);
  NodeConnectionPool pool;
  for (int i = 0; i < 3; ++i) {
    auto r = get(pool, node(server.port()), "/podnet/v1/fdb");
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->status, 200u);
  }
  EXPECT_EQ(server.accepted(), 3);
  auto s = pool.stats();
  EXPECT_EQ(s.opened, 3u);
  EXPECT_EQ(s.reused, 0u);
}

TEST_F(NodeDialPool, AConnectionTheNodeClosedWhileIdleIsDroppedBeforeUse) {
  NodeServer server(ca_, NodeMode::kCloseWhenIdle);
  NodeConnectionPool pool;
  ASSERT_TRUE(get(pool, node(server.port()), "/podnet/v1/fdb").has_value());
  ASSERT_TRUE(server.wait_closed(1));
  // The close_notify and FIN may still be in flight on loopback for a moment after close();
  // whichever way the client learns of them (before use, or as a failed first read), the GET is
  // answered on a fresh connection and never fails.
  auto r = get(pool, node(server.port()), "/podnet/v1/fdb");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200u);
  auto s = pool.stats();
  EXPECT_EQ(s.opened, 2u);
  EXPECT_EQ(s.dropped + s.retried, 1u);
  EXPECT_EQ(server.answered(), 2);
}

TEST_F(NodeDialPool, AGetTheNodeClosedInsteadOfAnsweringIsSentOnceMoreOnAFreshConnection) {
  NodeServer server(ca_, NodeMode::kDropSecondGet);
  NodeConnectionPool pool;
  ASSERT_TRUE(get(pool, node(server.port()), "/podnet/v1/routes").has_value());
  auto r = get(pool, node(server.port()), "/podnet/v1/fastpath?dst=10.244.1.5");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->body, "{\"target\":\"/podnet/v1/fastpath?dst=10.244.1.5\"}");
  auto s = pool.stats();
  EXPECT_EQ(s.opened, 2u);
  EXPECT_EQ(s.reused, 1u);
  EXPECT_EQ(s.retried, 1u);
  EXPECT_EQ(server.answered(), 2);
}

TEST_F(NodeDialPool, AConnectionVerifiedForOneNodeIsNeverUsedForAnother) {
  NodeServer server(ca_, NodeMode::kKeepAlive);
  NodeConnectionPool pool;
  ASSERT_TRUE(get(pool, node(server.port(), "node1"), "/podnet/v1/fdb").has_value());
  // node2's Node names the same address: the kept connection answered for node1, and a fresh one
  // shows the certificate is not node2's.
  auto r = get(pool, node(server.port(), "node2"), "/podnet/v1/fdb");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, 502);
  EXPECT_NE(r.error().message.find("system:node:node2"), std::string::npos) << r.error().message;
  EXPECT_EQ(pool.stats().reused, 0u);
  // node1's connection is still kept.
  ASSERT_TRUE(get(pool, node(server.port(), "node1"), "/podnet/v1/fdb").has_value());
  EXPECT_EQ(pool.stats().reused, 1u);
}

TEST_F(NodeDialPool, ANodeThatDoesNotAnswerIsA503) {
  uint16_t port;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  NodeConnectionPool pool;
  auto r = get(pool, node(port), "/podnet/v1/fdb");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, 503);
}

}  // namespace
}  // namespace podnet::apiserver
