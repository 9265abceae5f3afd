// HTTPS requests with Beast. Every operation is asynchronous on a per-connection io_context run
// by the thread using the connection (one at a time): that is what gives each read a timeout and lets another
// thread cancel a blocked watch (post a cancel to the context). Beast reports errors as error_codes, no
// throws.
#include "client/https_client.h"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <mutex>
#include <vector>

#include "client/watch_decoder.h"
#include "common/tls_policy.h"

namespace podnet::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace ssl = asio::ssl;
using k8s::ListPage;
using k8s::PatchType;
using k8s::WatchEvent;
using k8s::WatchStream;
using tcp = asio::ip::tcp;

Result<ServerUrl> parse_server_url(const std::string& url) {
  constexpr std::string_view scheme = "https://";
  if (!url.starts_with(scheme)) return fail_msg("server URL " + url + ": only https:// is supported");
  std::string_view rest = std::string_view(url).substr(scheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  ServerUrl out;
  if (slash != std::string_view::npos) out.prefix = std::string(rest.substr(slash));
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  std::string_view port;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail_msg("server URL " + url + ": unterminated [");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after[0] != ':') return fail_msg("server URL " + url + ": junk after ]");
    if (!after.empty()) port = after.substr(1);
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return fail_msg("server URL " + url + ": no host");
  out.port = port.empty() ? "443" : std::string(port);
  if (out.port.find_first_not_of("0123456789") != std::string::npos)
    return fail_msg("server URL " + url + ": bad port");
  return out;
}

namespace {

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::unexpected<Error> http_failure(unsigned status, std::string_view body) {
  return std::unexpected(k8s::status_error(status, body));
}

std::unexpected<Error> net_failure(const std::string& what, const beast::error_code& ec) {
  int code = ec == asio::error::operation_aborted                ? ECANCELED
             : ec == beast::error::timeout                       ? ETIMEDOUT
             : ec.category() == boost::system::system_category() ? ec.value()
                                                                 : 0;
  // A system error's text comes from Error::message() (strerror); only others need ec's text.
  bool system = ec.category() == boost::system::system_category() || code == ECANCELED || code == ETIMEDOUT;
  return std::unexpected(Error{code, system ? what : what + ": " + ec.message()});
}

// One TLS connection driven by its own io_context; see the file comment.
class Connection {
 public:
  explicit Connection(ssl::context& tls) : stream_(ioc_, tls) {}

  Status open(const ServerUrl& url, bool verify, std::chrono::seconds timeout) {
    const std::string what = "connect " + url.host + ":" + url.port;
    tcp::resolver resolver(ioc_);
    beast::error_code ec;
    auto endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) return net_failure(what, ec);
    ec = run(timeout,
             [&](auto h) { beast::get_lowest_layer(stream_).async_connect(endpoints, std::move(h)); });
    if (ec) return net_failure(what, ec);
    if (!is_ip_literal(url.host)) SSL_set_tlsext_host_name(stream_.native_handle(), url.host.c_str());
    if (verify) {
      stream_.set_verify_mode(ssl::verify_peer, ec);
      if (!ec) stream_.set_verify_callback(ssl::host_name_verification(url.host), ec);
      if (ec) return net_failure(what, ec);
    } else {
      stream_.set_verify_mode(ssl::verify_none, ec);
    }
    ec = run(timeout, [&](auto h) { stream_.async_handshake(ssl::stream_base::client, std::move(h)); });
    if (ec) return net_failure("TLS handshake with " + url.host + ":" + url.port, ec);
    return {};
  }

  template <class Request>
  Status write(Request& req, std::chrono::seconds timeout) {
    auto ec = run(timeout, [&](auto h) { http::async_write(stream_, req, std::move(h)); });
    if (ec) return net_failure("send request", ec);
    return {};
  }

  template <class Parser>
  beast::error_code read_header(Parser& p, std::chrono::seconds timeout) {
    return run(timeout, [&](auto h) { http::async_read_header(stream_, buffer_, p, std::move(h)); });
  }
  template <class Parser>
  beast::error_code read(Parser& p, std::chrono::seconds timeout) {
    return run(timeout, [&](auto h) { http::async_read(stream_, buffer_, p, std::move(h)); });
  }
  template <class Parser>
  beast::error_code read_some(Parser& p, std::chrono::seconds timeout) {
    return run(timeout, [&](auto h) { http::async_read_some(stream_, buffer_, p, std::move(h)); });
  }

  // Thread-safe: the cancel runs on whichever thread is (or next is) inside run().
  void cancel() {
    cancelled_ = true;
    asio::post(ioc_, [this] { beast::get_lowest_layer(stream_).cancel(); });
  }

 private:
  template <class Start>
  beast::error_code run(std::chrono::steady_clock::duration timeout, Start&& start) {
    if (cancelled_) return asio::error::operation_aborted;
    beast::error_code result = asio::error::would_block;
    beast::get_lowest_layer(stream_).expires_after(timeout);
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    if (cancelled_ && !result) return asio::error::operation_aborted;
    return result;
  }

  asio::io_context ioc_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

struct HttpsApiClient::Impl {
  ssl::context tls{ssl::context::tls_client};
  ServerUrl url;
  bool verify = true;
  std::string token;
  HttpsClientOptions opts;

  // Kept-alive connections no request is using (newest last): concurrent callers each reuse one
  // instead of paying a TLS handshake per request.
  std::mutex pool_mu;
  std::vector<std::unique_ptr<Connection>> idle;
  std::atomic<uint64_t> opened{0};

  template <class Body = http::empty_body>
  http::request<Body> request(const std::string& target, http::verb verb = http::verb::get,
                              bool keep_alive = false) const {
    http::request<Body> req{verb, url.prefix + target, 11};
    bool v6 = url.host.find(':') != std::string::npos;
    req.set(http::field::host,
            (v6 ? "[" + url.host + "]" : url.host) + (url.port == "443" ? "" : ":" + url.port));
    req.set(http::field::user_agent, opts.user_agent);
    req.set(http::field::accept, "application/json");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.keep_alive(keep_alive);
    return req;
  }

  Result<std::unique_ptr<Connection>> connect() {
    auto conn = std::make_unique<Connection>(tls);
    if (auto st = conn->open(url, verify, opts.request_timeout); !st) return std::unexpected(st.error());
    ++opened;
    return conn;
  }

  struct Reply {
    unsigned status = 0;
    std::string body;
  };
  // One request on the kept-alive connection (or a new one). A reused connection the server has
  // closed since (idle timeout) fails at once; the request is then sent again on a fresh one,
  // which is safe because a server that closed the connection never saw it.
  Result<Reply> roundtrip(http::verb verb, const std::string& target, const std::string& body,
                          std::string_view content_type) {
    std::unique_ptr<Connection> conn;
    {
      std::lock_guard l(pool_mu);
      if (!idle.empty()) {
        conn = std::move(idle.back());
        idle.pop_back();
      }
    }
    const std::string what = std::string(http::to_string(verb)) + " " + target;
    for (int attempt = 0;; ++attempt) {
      bool reused = conn != nullptr;
      if (!conn) {
        PODNET_TRY(fresh, connect());
        conn = std::move(fresh);
      }
      auto req = request<http::string_body>(target, verb, true);
      if (!content_type.empty()) req.set(http::field::content_type, content_type);
      req.body() = body;
      req.prepare_payload();
      http::response_parser<http::string_body> p;
      p.body_limit(1ull << 31);  // a LIST of 10^5 objects is hundreds of MB
      beast::error_code ec;
      if (auto st = conn->write(req, opts.request_timeout); !st)
        ec = asio::error::broken_pipe;
      else
        ec = conn->read(p, opts.request_timeout);
      if (ec) {
        conn.reset();
        if (reused && attempt == 0 && ec != beast::error::timeout) continue;
        return net_failure("read response to " + what, ec);
      }
      Reply reply{p.get().result_int(), std::move(p.get().body())};
      if (p.get().keep_alive()) {
        std::lock_guard l(pool_mu);
        if (idle.size() < opts.max_idle_connections) idle.push_back(std::move(conn));
      }
      return reply;
    }
  }

  Result<json::value> call(http::verb verb, const std::string& target, const std::string& body = {},
                           std::string_view content_type = {}) {
    const std::string what = std::string(http::to_string(verb)) + " " + target;
    PODNET_TRY(reply, roundtrip(verb, target, body, content_type));
    if (reply.status < 200 || reply.status > 299)
      return std::unexpected(wrap(http_failure(reply.status, reply.body).error(), what));
    if (reply.body.empty()) return json::value();
    json::error_code ec;
    json::value v = json::parse(reply.body, ec);
    if (ec) return fail_msg(what + ": bad JSON: " + ec.message());
    return v;
  }
};

namespace {

class HttpsWatchStream : public WatchStream {
 public:
  HttpsWatchStream(std::unique_ptr<Connection> conn,
                   std::unique_ptr<http::response_parser<http::buffer_body>> p,
                   std::chrono::seconds idle_timeout)
      : conn_(std::move(conn)), parser_(std::move(p)), idle_timeout_(idle_timeout) {}

  Result<std::optional<WatchEvent>> next() override {
    for (;;) {
      if (decoder_.has_event()) return std::optional(decoder_.pop());
      if (parser_->is_done()) {
        if (decoder_.pending_bytes() > 0) return fail_msg("watch stream ended inside an event");
        return std::optional<WatchEvent>();
      }
      auto& body = parser_->get().body();
      body.data = buf_;
      body.size = sizeof buf_;
      body.more = true;
      auto ec = conn_->read_some(*parser_, idle_timeout_);
      if (ec && ec != http::error::need_buffer) return net_failure("watch stream", ec);
      size_t got = sizeof buf_ - body.size;
      if (auto s = decoder_.feed(std::string_view(buf_, got)); !s) return std::unexpected(s.error());
    }
  }
  void cancel() override { conn_->cancel(); }

 private:
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  std::chrono::seconds idle_timeout_;
  WatchDecoder decoder_;
  char buf_[16384];
};

}  // namespace

HttpsApiClient::HttpsApiClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsApiClient::~HttpsApiClient() = default;

Result<std::unique_ptr<HttpsApiClient>> HttpsApiClient::create(const ClusterAccess& access,
                                                               HttpsClientOptions options) {
  PODNET_TRY(url, parse_server_url(access.server));
  std::unique_ptr<Impl> impl;
  try {  // ssl::context's constructor throws when OpenSSL cannot make a context
    impl = std::make_unique<Impl>();
  } catch (const std::exception& e) {
    return fail_msg(std::string("TLS context: ") + e.what());
  }
  impl->url = std::move(url);
  impl->opts = std::move(options);
  impl->token = access.token;
  impl->verify = !access.insecure_skip_tls_verify;
  beast::error_code ec;
  impl->tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                        ec);
  if (auto policy = apply_tls_policy(impl->tls.native_handle()); !policy)
    return std::unexpected(policy.error());
  if (access.ca_pem.empty())
    impl->tls.set_default_verify_paths(ec);
  else
    impl->tls.add_certificate_authority(asio::buffer(access.ca_pem), ec);
  if (ec) return fail_msg("certificate authority: " + ec.message());
  if (!access.client_cert_pem.empty()) {
    impl->tls.use_certificate_chain(asio::buffer(access.client_cert_pem), ec);
    if (ec) return fail_msg("client certificate: " + ec.message());
    impl->tls.use_private_key(asio::buffer(access.client_key_pem), ssl::context::pem, ec);
    if (ec) return fail_msg("client key: " + ec.message());
  }
  return std::unique_ptr<HttpsApiClient>(new HttpsApiClient(std::move(impl)));
}

Result<json::value> HttpsApiClient::get(const std::string& path) {
  return impl_->call(http::verb::get, path);
}

Result<std::string> HttpsApiClient::get_text(const std::string& path) {
  PODNET_TRY(reply, impl_->roundtrip(http::verb::get, path, {}, {}));
  if (reply.status < 200 || reply.status > 299)
    return std::unexpected(wrap(http_failure(reply.status, reply.body).error(), "GET " + path));
  return std::move(reply.body);
}

Result<json::value> HttpsApiClient::create(const std::string& collection, const json::value& object) {
  return impl_->call(http::verb::post, collection, json::serialize(object), "application/json");
}

Result<json::value> HttpsApiClient::update(const std::string& path, const json::value& object) {
  return impl_->call(http::verb::put, path, json::serialize(object), "application/json");
}

Result<json::value> HttpsApiClient::patch(const std::string& path, PatchType type, const json::value& patch) {
  const char* content_type = type == PatchType::kMerge            ? "application/merge-patch+json"
                             : type == PatchType::kStrategicMerge ? "application/strategic-merge-patch+json"
                                                                  : "application/json-patch+json";
  return impl_->call(http::verb::patch, path, json::serialize(patch), content_type);
}

Status HttpsApiClient::remove(const std::string& path) {
  PODNET_TRY(answer, impl_->call(http::verb::delete_, path));
  (void)answer;
  return {};
}

Status HttpsApiClient::remove(const std::string& path, const json::value& delete_options) {
  PODNET_TRY(answer,
             impl_->call(http::verb::delete_, path, json::serialize(delete_options), "application/json"));
  (void)answer;
  return {};
}

uint64_t HttpsApiClient::connections_opened() const {
  return impl_->opened;
}

Result<ListPage> HttpsApiClient::list(const std::string& path, size_t limit,
                                      const std::string& continue_token) {
  PODNET_TRY(v, get(k8s::list_target(path, limit, continue_token)));
  return k8s::parse_list_page(v, path);
}

Result<std::unique_ptr<WatchStream>> HttpsApiClient::watch(const std::string& path,
                                                           const std::string& resource_version) {
  std::string target = k8s::watch_target(path, resource_version, impl_->opts.watch_timeout_seconds);
  PODNET_TRY(conn, impl_->connect());
  auto req = impl_->request(target);
  if (auto st = conn->write(req, impl_->opts.request_timeout); !st) return std::unexpected(st.error());
  auto p = std::make_unique<http::response_parser<http::buffer_body>>();
  p->body_limit(boost::none);  // a watch never ends by size
  if (auto ec = conn->read_header(*p, impl_->opts.request_timeout)) return net_failure("watch " + path, ec);
  unsigned status = p->get().result_int();
  if (status != 200) {
    // Read a bounded error body for the message; the connection is dropped anyway.
    std::string body;
    char buf[4096];
    while (!p->is_done() && body.size() < 65536) {
      p->get().body().data = buf;
      p->get().body().size = sizeof buf;
      auto ec = conn->read_some(*p, impl_->opts.request_timeout);
      body.append(buf, sizeof buf - p->get().body().size);
      if (ec && ec != http::error::need_buffer) break;
    }
    return std::unexpected(wrap(http_failure(status, body).error(), "watch " + path));
  }
  auto idle = std::chrono::seconds(impl_->opts.watch_timeout_seconds + 30);
  return std::unique_ptr<WatchStream>(new HttpsWatchStream(std::move(conn), std::move(p), idle));
}

}  // namespace podnet::client
