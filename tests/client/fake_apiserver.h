// A small Kubernetes-API-shaped HTTPS server for tests, on 127.0.0.1:<any port>: LIST with paging,
// WATCH as a chunked stream of JSON lines, 410 for compacted resourceVersions, dropped streams.
// One thread per connection, one request per connection (the client under test does the same).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/test_pki.h"

namespace podnet::testing {

struct FakeApiServerOptions {
  bool require_client_cert = false;
  std::string token;  // when set, requests must carry "Authorization: Bearer <token>"
};

class FakeApiServer {
 public:
  using Options = FakeApiServerOptions;

  explicit FakeApiServer(const TestPki& pki, Options opts = {})
      : opts_(std::move(opts)), tls_(boost::asio::ssl::context::tls_server), acceptor_(ioc_) {
    namespace asio = boost::asio;
    tls_.use_certificate_chain(asio::buffer(pki.server.cert_pem));
    tls_.use_private_key(asio::buffer(pki.server.key_pem), asio::ssl::context::pem);
    if (opts_.require_client_cert) {
      tls_.add_certificate_authority(asio::buffer(pki.ca.cert_pem));
      tls_.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    }
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~FakeApiServer() {
    {
      std::lock_guard l(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocked accept()
    accept_thread_.join();
    std::list<std::thread> threads;
    {
      std::lock_guard l(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

  uint16_t port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  // Makes `path` exist (an empty list) before anything is stored under it.
  void add_resource(const std::string& path) {
    std::lock_guard l(mu_);
    resources_[path];
  }
  // Adds or replaces an object (ADDED / MODIFIED event); sets its metadata.resourceVersion.
  void upsert(const std::string& path, boost::json::object obj) {
    std::lock_guard l(mu_);
    auto& r = resources_[path];
    std::string key = key_of(obj);
    obj["metadata"].as_object()["resourceVersion"] = std::to_string(++rv_);
    const char* type = r.objects.contains(key) ? "MODIFIED" : "ADDED";
    r.objects[key] = obj;
    r.events.push_back({rv_, type, obj});
    cv_.notify_all();
  }
  void remove(const std::string& path, const std::string& key) {
    std::lock_guard l(mu_);
    auto& r = resources_[path];
    auto it = r.objects.find(key);
    if (it == r.objects.end()) return;
    boost::json::object obj = it->second;
    r.objects.erase(it);
    obj["metadata"].as_object()["resourceVersion"] = std::to_string(++rv_);
    r.events.push_back({rv_, "DELETED", obj});
    cv_.notify_all();
  }
  // A BOOKMARK carrying the current resourceVersion to every watcher of `path`.
  void bookmark(const std::string& path) {
    std::lock_guard l(mu_);
    boost::json::object obj{{"kind", "Bookmark"}, {"metadata", {{"resourceVersion", std::to_string(++rv_)}}}};
    resources_[path].events.push_back({rv_, "BOOKMARK", obj});
    cv_.notify_all();
  }
  // Forgets history: watches from an older resourceVersion get an ERROR event with code 410.
  void compact() {
    std::lock_guard l(mu_);
    compacted_ = rv_;
    for (auto& [_, r] : resources_) r.events.clear();
  }
  // Cuts every open watch connection without the terminating chunk (a network drop).
  void drop_watches() {
    std::lock_guard l(mu_);
    ++drop_generation_;
    cv_.notify_all();
  }
  // While held, new watch requests wait (so a test can change history while the client is away).
  void hold_watches(bool hold) {
    std::lock_guard l(mu_);
    hold_ = hold;
    cv_.notify_all();
  }
  // Answers the next `n` watches with HTTP 410 instead of a stream.
  void fail_watches_with_410(int n) {
    std::lock_guard l(mu_);
    http_410_ = n;
  }
  // Request targets seen, in order ("/api/v1/services?limit=500").
  std::vector<std::string> requests() {
    std::lock_guard l(mu_);
    return requests_;
  }
  size_t open_watches() {
    std::lock_guard l(mu_);
    return open_watches_;
  }

  static std::string key_of(const boost::json::object& obj) {
    const auto& m = obj.at("metadata").as_object();
    std::string name(m.at("name").as_string());
    auto* ns = m.if_contains("namespace");
    return ns ? std::string(ns->as_string()) + "/" + name : name;
  }

 private:
  using tcp = boost::asio::ip::tcp;
  using TlsStream = boost::asio::ssl::stream<tcp::socket>;
  struct Event {
    uint64_t rv;
    std::string type;
    boost::json::object object;
  };
  struct Resource {
    std::map<std::string, boost::json::object> objects;
    std::vector<Event> events;
  };

  void accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket sock(ioc_);
      acceptor_.accept(sock, ec);
      std::lock_guard l(mu_);
      if (stopping_) return;
      if (ec) continue;
      threads_.emplace_back([this, s = std::move(sock)]() mutable { serve(std::move(s)); });
    }
  }

  static std::map<std::string, std::string> query_of(std::string_view target) {
    std::map<std::string, std::string> q;
    size_t qm = target.find('?');
    if (qm == std::string_view::npos) return q;
    std::string_view rest = target.substr(qm + 1);
    while (!rest.empty()) {
      std::string_view kv = rest.substr(0, rest.find('&'));
      rest.remove_prefix(std::min(rest.size(), kv.size() + 1));
      size_t eq = kv.find('=');
      q[std::string(kv.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
    }
    return q;
  }

  static void write_all(TlsStream& s, const std::string& data, boost::system::error_code& ec) {
    boost::asio::write(s, boost::asio::buffer(data), ec);
  }
  static void respond(TlsStream& s, int status, const std::string& body) {
    std::string head = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
                       "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    boost::system::error_code ec;
    write_all(s, head + body, ec);
    finish(s);
  }
  // close_notify without waiting for the peer's (ssl::stream::shutdown would block on a silent peer).
  static void finish(TlsStream& s) {
    boost::system::error_code ec;
    ::SSL_shutdown(s.native_handle());
    s.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
    s.lowest_layer().close(ec);
  }
  static std::string status_body(int code, const std::string& reason, const std::string& msg) {
    return boost::json::serialize(boost::json::object{{"kind", "Status"},
                                                      {"apiVersion", "v1"},
                                                      {"status", "Failure"},
                                                      {"message", msg},
                                                      {"reason", reason},
                                                      {"code", code}});
  }
  static std::string chunk(const std::string& line) {
    char len[32];
    std::snprintf(len, sizeof len, "%zx\r\n", line.size());
    return len + line + "\r\n";
  }

  void serve(tcp::socket sock) {
    namespace http = boost::beast::http;
    TlsStream s(std::move(sock), tls_);
    boost::system::error_code ec;
    s.handshake(boost::asio::ssl::stream_base::server, ec);
    if (ec) return;
    boost::beast::flat_buffer buf;
    http::request<http::empty_body> req;
    http::read(s, buf, req, ec);
    if (ec) return;
    std::string target(req.target());
    {
      std::lock_guard l(mu_);
      requests_.push_back(target);
    }
    if (!opts_.token.empty() && req[http::field::authorization] != "Bearer " + opts_.token)
      return respond(s, 401, status_body(401, "Unauthorized", "Unauthorized"));
    std::string path = target.substr(0, target.find('?'));
    auto q = query_of(target);
    if (q["watch"] == "1" || q["watch"] == "true") return watch(s, path, q);
    list(s, path, q);
  }

  void list(TlsStream& s, const std::string& path, std::map<std::string, std::string>& q) {
    std::unique_lock l(mu_);
    auto it = resources_.find(path);
    if (it == resources_.end()) {
      l.unlock();
      return respond(s, 404,
                     status_body(404, "NotFound", "the server could not find the requested resource"));
    }
    size_t limit = q["limit"].empty() ? SIZE_MAX : std::stoul(q["limit"]);
    size_t start = q["continue"].empty() ? 0 : std::stoul(q["continue"]);
    boost::json::array items;
    size_t i = 0;
    for (const auto& [_, obj] : it->second.objects) {
      if (i++ < start) continue;
      if (items.size() == limit) break;
      items.push_back(obj);
    }
    boost::json::object meta{{"resourceVersion", std::to_string(rv_)}};
    if (start + items.size() < it->second.objects.size())
      meta["continue"] = std::to_string(start + items.size());
    std::string body = boost::json::serialize(
        boost::json::object{{"kind", "List"}, {"apiVersion", "v1"}, {"metadata", meta}, {"items", items}});
    l.unlock();
    respond(s, 200, body);
  }

  void watch(TlsStream& s, const std::string& path, std::map<std::string, std::string>& q) {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return !hold_ || stopping_; });
    if (http_410_ > 0) {
      --http_410_;
      l.unlock();
      return respond(s, 410, status_body(410, "Expired", "too old resource version"));
    }
    boost::system::error_code ec;
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    uint64_t from = q["resourceVersion"].empty() ? rv_ : std::stoull(q["resourceVersion"]);
    std::string first;
    if (q["resourceVersion"].empty()) {
      for (const auto& [_, obj] : resources_[path].objects)
        first +=
            chunk(boost::json::serialize(boost::json::object{{"type", "ADDED"}, {"object", obj}}) + "\n");
    } else if (from < compacted_) {
      first =
          chunk(
              boost::json::serialize(boost::json::object{
                  {"type", "ERROR"},
                  {"object", boost::json::parse(status_body(410, "Expired", "too old resource version"))}}) +
              "\n") +
          "0\r\n\r\n";
      l.unlock();
      write_all(s, head + first, ec);
      finish(s);
      return;
    }
    const uint64_t generation = drop_generation_;
    ++open_watches_;
    l.unlock();
    write_all(s, head + first, ec);
    l.lock();
    size_t next = 0;
    while (!ec) {
      if (drop_generation_ != generation) {
        --open_watches_;
        l.unlock();
        s.lowest_layer().close(ec);  // no TLS close_notify, no last chunk: a cut
        return;
      }
      auto& events = resources_[path].events;
      std::string out;
      for (; next < events.size(); ++next)
        if (events[next].rv > from)
          out += chunk(boost::json::serialize(boost::json::object{{"type", events[next].type},
                                                                  {"object", events[next].object}}) +
                       "\n");
      if (!out.empty()) {
        l.unlock();
        write_all(s, out, ec);
        l.lock();
        continue;
      }
      if (stopping_) break;
      cv_.wait(l);
      if (events.size() < next) next = 0;  // compacted under us; the client will be told by 410 later
    }
    --open_watches_;
    l.unlock();
    write_all(s, "0\r\n\r\n", ec);
    finish(s);
  }

  Options opts_;
  boost::asio::io_context ioc_;
  boost::asio::ssl::context tls_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread accept_thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::list<std::thread> threads_;
  std::map<std::string, Resource> resources_;
  uint64_t rv_ = 1, compacted_ = 0, drop_generation_ = 0;
  int http_410_ = 0;
  bool hold_ = false;
  size_t open_watches_ = 0;
  std::vector<std::string> requests_;
};

}  // namespace podnet::testing
