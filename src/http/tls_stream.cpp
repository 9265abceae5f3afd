// The two concrete streams. Each Beast/Asio operation below is compiled once, for the erased
// completion; everything above them (HTTP, WebSocket) is compiled once in session.cpp.
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include "common/tls_policy.h"
#include "http/stream.h"

namespace podnet::http::detail {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

class TlsStream final : public Stream {
 public:
  TlsStream(tcp::socket socket, net::ssl::context& ctx) : stream_(std::move(socket), ctx) {}
  executor_type get_executor() override { return stream_.get_executor(); }
  void async_handshake(Done done) override {
    stream_.async_handshake(net::ssl::stream_base::server,
                            [this, done = std::move(done)](boost::system::error_code ec) mutable {
                              if (!ec) read_identity();
                              done(ec);
                            });
  }
  Identity identity() const override { return identity_; }
  void expires_after(std::chrono::steady_clock::duration d) override {
    beast::get_lowest_layer(stream_).expires_after(d);
  }
  void expires_never() override { beast::get_lowest_layer(stream_).expires_never(); }
  void close() override {
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }
  void async_teardown(beast::role_type role, Done done) override {
    beast::async_teardown(role, stream_, std::move(done));
  }

 protected:
  void read_some(net::mutable_buffer buffer, Completion done) override {
    stream_.async_read_some(buffer, std::move(done));
  }
  void write_some(std::vector<net::const_buffer> buffers, Completion done) override {
    stream_.async_write_some(buffers, std::move(done));
  }

 private:
  void read_identity() {
    SSL* ssl = stream_.native_handle();
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      // A presented certificate was verified during the handshake (or it failed); this check keeps
      // a future verify callback from weakening that.
      if (SSL_get_verify_result(ssl) == X509_V_OK) {
        CertSubject subject = cert_subject(peer);
        identity_ = {true, subject.common_name, subject.organizations};
      }
      X509_free(peer);
    }
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  Identity identity_;
};

class TcpStream final : public Stream {
 public:
  explicit TcpStream(tcp::socket socket) : stream_(std::move(socket)) {}
  executor_type get_executor() override { return stream_.get_executor(); }
  void async_handshake(Done done) override {
    net::post(stream_.get_executor(), [done = std::move(done)]() mutable { done({}); });
  }
  Identity identity() const override { return {}; }
  void expires_after(std::chrono::steady_clock::duration d) override { stream_.expires_after(d); }
  void expires_never() override { stream_.expires_never(); }
  void close() override {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }
  void async_teardown(beast::role_type role, Done done) override {
    beast::websocket::async_teardown(role, stream_.socket(), std::move(done));
  }

 protected:
  void read_some(net::mutable_buffer buffer, Completion done) override {
    stream_.async_read_some(buffer, std::move(done));
  }
  void write_some(std::vector<net::const_buffer> buffers, Completion done) override {
    stream_.async_write_some(buffers, std::move(done));
  }

 private:
  beast::tcp_stream stream_;
};

}  // namespace

std::unique_ptr<Stream> make_tls_stream(tcp::socket socket, net::ssl::context& ctx) {
  return std::make_unique<TlsStream>(std::move(socket), ctx);
}

std::unique_ptr<Stream> make_tcp_stream(tcp::socket socket) {
  return std::make_unique<TcpStream>(std::move(socket));
}

}  // namespace podnet::http::detail
