// The test client verifies the server certificate against the cluster CA and the 127.0.0.1 SAN,
// so the tests also cover what kubectl checks.
#include "tls_client.h"

namespace podnet::apiserver::testing {

bool TlsClient::connect(net::io_context& ioc, ssl::context& ctx,
                        std::unique_ptr<beast::ssl_stream<beast::tcp_stream>>& out, std::string& error) {
  beast::error_code ec;
  ctx.add_certificate_authority(net::buffer(ca_pem_), ec);
  ctx.set_verify_mode(ssl::verify_peer, ec);
  if (client_) {
    ctx.use_certificate_chain(net::buffer(client_->cert_pem), ec);
    ctx.use_private_key(net::buffer(client_->key_pem), ssl::context::pem, ec);
  }
  if (ec) {
    error = "client TLS context: " + ec.message();
    return false;
  }
  out = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, ctx);
  out->set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  auto& tcp = beast::get_lowest_layer(*out);
  tcp.expires_after(std::chrono::seconds(10));
  tcp.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
  if (!ec) out->handshake(ssl::stream_base::client, ec);
  if (ec) {
    error = "connect/handshake: " + ec.message();
    return false;
  }
  return true;
}

HttpResult TlsClient::request(http::verb method, const std::string& target, const std::string& body,
                              const std::string& content_type, const std::string& accept,
                              const http::fields& extra) {
  HttpResult result;
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream;
  if (!connect(ioc, ctx, stream, result.error)) return result;
  http::request<http::string_body> req(method, target, 11);
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::accept, accept);
  for (const auto& h : extra) req.set(h.name_string(), h.value());
  if (!body.empty() || method == http::verb::post || method == http::verb::put ||
      method == http::verb::patch) {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.prepare_payload();
  beast::error_code ec;
  http::write(*stream, req, ec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  // A server may answer (413) before reading the whole body: read the reply even if the write failed.
  http::read(*stream, buffer, parser, ec);
  if (ec && !parser.is_header_done()) {
    result.error = "read: " + ec.message();
    return result;
  }
  result.status = parser.get().result_int();
  result.body = parser.get().body();
  result.headers = parser.get().base();
  return result;
}

std::unique_ptr<WatchReader> TlsClient::watch(const std::string& target) {
  auto reader = std::make_unique<WatchReader>();
  reader->ioc_ = std::make_unique<net::io_context>();
  reader->ctx_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  std::string error;
  if (!connect(*reader->ioc_, *reader->ctx_, reader->stream_, error)) return nullptr;
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, "127.0.0.1");
  beast::error_code ec;
  http::write(*reader->stream_, req, ec);
  reader->parser_.body_limit(boost::none);
  beast::get_lowest_layer(*reader->stream_).expires_after(std::chrono::seconds(10));
  if (!ec) http::read_header(*reader->stream_, reader->buffer_, reader->parser_, ec);
  if (ec) return nullptr;
  return reader;
}

std::optional<boost::json::value> WatchReader::next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::string& body = parser_.get().body();
    size_t nl = body.find('\n', consumed_);
    if (nl != std::string::npos) {
      std::string line = body.substr(consumed_, nl - consumed_);
      consumed_ = nl + 1;
      boost::system::error_code ec;
      auto v = boost::json::parse(line, ec);
      if (ec) return std::nullopt;
      return v;
    }
    if (ended_ || parser_.is_done()) {
      ended_ = true;
      return std::nullopt;
    }
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::milliseconds(0)) return std::nullopt;
    beast::get_lowest_layer(*stream_).expires_after(left);
    beast::error_code ec;
    http::read_some(*stream_, buffer_, parser_, ec);
    if (ec) ended_ = true;  // a timeout closes the socket too: the reader is done either way
  }
}

}  // namespace podnet::apiserver::testing
