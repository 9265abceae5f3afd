// A small synchronous HTTPS client for the API server tests: one request per connection (or a
// watch stream read event by event), with or without a client certificate.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "apiserver/auth/pki.h"

namespace podnet::apiserver::testing {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;

struct HttpResult {
  int status = 0;  // 0: the connection or TLS handshake failed
  std::string body;
  std::string error;     // transport error, when status is 0
  http::fields headers;  // the response's

  boost::json::value json() const {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    return ec ? boost::json::value() : v;
  }
};

class TlsClient;

// The response of a watch request, read incrementally.
class WatchReader {
 public:
  int status() const { return parser_.get().result_int(); }
  // The next {"type","object"} event, or nullopt when the stream ended or none came within
  // `timeout` (which also ends the reader: Beast closes a timed-out socket).
  std::optional<boost::json::value> next(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool ended() const { return ended_; }

 private:
  friend class TlsClient;
  std::unique_ptr<net::io_context> ioc_;
  std::unique_ptr<ssl::context> ctx_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  size_t consumed_ = 0;
  bool ended_ = false;
};

class TlsClient {
 public:
  // `client` empty: anonymous (no certificate).
  TlsClient(uint16_t port, std::string ca_pem, std::optional<KeyPair> client)
      : port_(port), ca_pem_(std::move(ca_pem)), client_(std::move(client)) {}

  // `extra`: more request headers (If-None-Match, ...).
  HttpResult request(http::verb method, const std::string& target, const std::string& body = "",
                     const std::string& content_type = "application/json",
                     const std::string& accept = "application/json", const http::fields& extra = {});
  HttpResult get(const std::string& target) { return request(http::verb::get, target); }
  HttpResult post(const std::string& target, const boost::json::value& body) {
    return request(http::verb::post, target, boost::json::serialize(body));
  }
  HttpResult put(const std::string& target, const boost::json::value& body) {
    return request(http::verb::put, target, boost::json::serialize(body));
  }
  HttpResult del(const std::string& target) { return request(http::verb::delete_, target); }
  std::unique_ptr<WatchReader> watch(const std::string& target);

 private:
  // Connected and handshaken, or the error text.
  bool connect(net::io_context& ioc, ssl::context& ctx,
               std::unique_ptr<beast::ssl_stream<beast::tcp_stream>>& out, std::string& error);

  uint16_t port_;
  std::string ca_pem_;
  std::optional<KeyPair> client_;
};

}  // namespace podnet::apiserver::testing
