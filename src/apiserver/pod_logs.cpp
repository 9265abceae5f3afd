// The relay: connect over TLS, verify the node, and read the agent's response head on a private
// io_context (the request handler thread may block, as it does on storage), then hand the
// connection to a StreamBody whose thread reads the rest and forwards every piece as a chunk.
#include "apiserver/pod_logs.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <limits>
#include <thread>

#include "apiserver/api_error.h"
#include "common/tls_policy.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

constexpr int kDefaultKubeletPort = 10250;
constexpr size_t kErrorBodyLimit = 64 * 1024;

using Parser = http::response_parser<http::buffer_body>;

Reply error_reply(const ApiError& e) {
  Reply r;
  r.msg.result(static_cast<http::status>(e.code));
  r.msg.set(http::field::content_type, "application/json");
  r.msg.body() = json::serialize(status_json(e));
  return r;
}

const json::value* at(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* cur = &v;
  for (const char* p : path) {
    const json::object* o = cur->if_object();
    cur = o ? o->if_contains(p) : nullptr;
    if (!cur) return nullptr;
  }
  return cur;
}

std::string str_at(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* s = at(v, path);
  return s && s->is_string() ? std::string(s->get_string()) : std::string();
}

std::string percent_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string reason_for(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 503:
      return "ServiceUnavailable";
    default:
      return code >= 500 ? "InternalError" : "BadRequest";
  }
}

// One TLS connection to a node agent and what was read of its response so far.
struct NodeConnection {
  net::io_context ioc;
  std::optional<ssl::context> tls;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  std::unique_ptr<Parser> parser = std::make_unique<Parser>();
  beast::flat_buffer buffer;
  int fd = -1;  // the socket's, for shutdown() from another thread; closed with the stream
  std::atomic<bool> stopped{false};
};

// The rest of the agent's response, forwarded chunk by chunk from a thread of its own (blocking
// reads; stop() wakes it with shutdown()). The connection is shared with that thread, so neither
// the socket nor its descriptor number goes away while the thread may still use it.
class LogRelay final : public StreamBody {
 public:
  explicit LogRelay(std::shared_ptr<NodeConnection> conn) : conn_(std::move(conn)) {}
  ~LogRelay() override {
    halt();
    if (!thread_.joinable()) return;
    // The thread may hold the last reference to the sink, which owns this relay.
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();
    else
      thread_.join();
  }

  void start(net::any_io_executor, std::shared_ptr<ChunkSink> sink) override {
    thread_ = std::thread([conn = conn_, sink = std::move(sink)]() mutable {
      relay(*conn, *sink);
      if (!conn->stopped) sink->finish();
      sink.reset();  // may destroy this relay (see the destructor)
    });
  }

  void stop() override { halt(); }

 private:
  void halt() {
    conn_->stopped = true;
    if (conn_->fd >= 0) ::shutdown(conn_->fd, SHUT_RDWR);
  }

  static void relay(NodeConnection& c, ChunkSink& sink) {
    std::array<char, 16 * 1024> chunk;
    while (!c.stopped && !c.parser->is_done()) {
      c.parser->get().body().data = chunk.data();
      c.parser->get().body().size = chunk.size();
      beast::error_code ec;
      // read_some, not read: a follower's line goes out when it arrives, not when 16 KiB did.
      http::read_some(*c.stream, c.buffer, *c.parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      size_t got = chunk.size() - c.parser->get().body().size;
      if (got > 0 && !c.stopped) sink.write(std::string(chunk.data(), got));
      if (ec) return;  // the agent went away: end the log here
    }
  }

  std::shared_ptr<NodeConnection> conn_;
  std::thread thread_;
};

}  // namespace

ApiResult<std::string> log_container(const json::value& pod, const std::string& requested) {
  std::vector<std::string> names;
  for (const char* list : {"containers", "initContainers", "ephemeralContainers"}) {
    const json::value* arr = at(pod, {"spec", list});
    if (!arr || !arr->is_array()) continue;
    for (const auto& c : arr->get_array()) names.push_back(str_at(c, {"name"}));
  }
  std::string pod_name = str_at(pod, {"metadata", "name"});
  if (requested.empty()) {
    const json::value* main = at(pod, {"spec", "containers"});
    if (main && main->is_array() && main->get_array().size() == 1)
      return str_at(main->get_array()[0], {"name"});
    std::string choices;
    if (main && main->is_array())
      for (const auto& c : main->get_array()) choices += (choices.empty() ? "" : " ") + str_at(c, {"name"});
    return api_fail(bad_request("a container name must be specified for pod " + pod_name +
                                ", choose one of: [" + choices + "]"));
  }
  if (std::find(names.begin(), names.end(), requested) == names.end())
    return api_fail(bad_request("container " + requested + " is not valid for pod " + pod_name));
  return requested;
}

Reply pod_log(ObjectStore& objects, const ResourceRegistry& registry, const std::string& ns,
              const std::string& name, const QueryParams& query, const KubeletClientTls& kubelet,
              std::chrono::milliseconds timeout) {
  auto pod = objects.get(*registry.find("", "v1", "pods"), ns, name);
  if (!pod) return error_reply(pod.error());
  auto param = [&](const char* key) {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };
  auto container = log_container(*pod, param("container"));
  if (!container) return error_reply(container.error());
  std::string node_name = str_at(*pod, {"spec", "nodeName"});
  if (node_name.empty()) return error_reply(bad_request("pod " + name + " does not have a host assigned"));
  auto node = objects.get(*registry.find("", "v1", "nodes"), "", node_name);
  if (!node) return error_reply(node.error());
  std::string ip;
  if (const json::value* addrs = at(*node, {"status", "addresses"}); addrs && addrs->is_array())
    for (const auto& a : addrs->get_array())
      if (str_at(a, {"type"}) == "InternalIP" && ip.empty()) ip = str_at(a, {"address"});
  if (ip.empty())
    return error_reply({503, "ServiceUnavailable", "node " + node_name + " has no InternalIP address"});
  int port = kDefaultKubeletPort;
  if (const json::value* p = at(*node, {"status", "daemonEndpoints", "kubeletEndpoint", "Port"});
      p && p->is_int64() && p->get_int64() > 0 && p->get_int64() < 65536)
    port = static_cast<int>(p->get_int64());

  std::string target =
      "/containerLogs/" + percent_encode(ns) + "/" + percent_encode(name) + "/" + percent_encode(*container);
  std::string sep = "?";
  for (const char* key :
       {"follow", "tailLines", "timestamps", "previous", "sinceSeconds", "sinceTime", "limitBytes"}) {
    std::string v = param(key);
    if (v.empty()) continue;
    target += sep + key + "=" + percent_encode(v);
    sep = "&";
  }

  beast::error_code ec;
  auto address = net::ip::make_address(ip, ec);
  if (ec) return error_reply({503, "ServiceUnavailable", "node " + node_name + ": bad InternalIP " + ip});
  std::string host = address.is_v6() ? "[" + ip + "]" : ip;
  const std::string url = "https://" + host + ":" + std::to_string(port) + target;
  auto unreachable = [&](const std::string& what) {
    return error_reply({503, "ServiceUnavailable", "Get \"" + url + "\": " + what});
  };
  // The node answered but is not who it must be: kube-apiserver's 500 for a failed verification.
  auto not_the_node = [&](const std::string& what) {
    return error_reply({502, "InternalError", "Get \"" + url + "\": " + what});
  };

  auto conn = std::make_shared<NodeConnection>();
  try {  // ssl::context's constructor throws when OpenSSL cannot make a context
    conn->tls.emplace(ssl::context::tls_client);
  } catch (const std::exception& e) {
    return error_reply(internal_error(std::string("TLS context: ") + e.what()));
  }
  ssl::context& tls = *conn->tls;
  if (auto s = apply_tls_policy(tls.native_handle()); !s)
    return error_reply(internal_error(s.error().message()));
  tls.add_certificate_authority(net::buffer(kubelet.ca_pem), ec);
  if (!ec) tls.use_certificate_chain(net::buffer(kubelet.client.cert_pem), ec);
  if (!ec) tls.use_private_key(net::buffer(kubelet.client.key_pem), ssl::context::pem, ec);
  if (!ec) tls.set_verify_mode(ssl::verify_peer, ec);
  if (ec) return error_reply(internal_error("kubelet client credentials: " + ec.message()));
  conn->stream.emplace(conn->ioc, tls);
  auto& stream = *conn->stream;
  // The node's certificate must chain to the cluster CA and name the address dialed.
  if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream.native_handle()), address.to_string().c_str()) != 1)
    return error_reply(internal_error("verify parameters for " + ip));
  conn->parser->body_limit(std::numeric_limits<uint64_t>::max());
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  req.set(http::field::user_agent, "podnet-apiserver");
  beast::error_code result;
  bool connected = false;
  auto& tcp_stream = beast::get_lowest_layer(stream);
  tcp_stream.expires_after(timeout);
  tcp_stream.async_connect(tcp::endpoint(address, static_cast<uint16_t>(port)), [&](beast::error_code e) {
    if ((result = e)) return;
    connected = true;
    stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e1) { result = e1; });
  });
  conn->ioc.run();
  if (result && !connected) return unreachable(result.message());
  if (result) {
    long verify = SSL_get_verify_result(stream.native_handle());
    if (verify != X509_V_OK)
      return not_the_node("the node's serving certificate is not valid for " + ip +
                          " from the cluster CA: " + X509_verify_cert_error_string(verify));
    return not_the_node("TLS handshake: " + result.message());
  }
  // The address is the node's own only if the certificate is: one node may not answer for another.
  // Checked before the request goes out.
  const X509* peer = SSL_get0_peer_certificate(stream.native_handle());
  std::string expected_cn = "system:node:" + node_name;
  if (!peer || cert_subject(peer).common_name != expected_cn)
    return not_the_node("the serving certificate at " + ip + " is for \"" +
                        (peer ? cert_subject(peer).common_name : std::string()) + "\", not \"" + expected_cn +
                        "\"");
  conn->ioc.restart();
  http::async_write(stream, req, [&](beast::error_code e2, size_t) {
    if ((result = e2)) return;
    http::async_read_header(stream, conn->buffer, *conn->parser,
                            [&](beast::error_code e3, size_t) { result = e3; });
  });
  conn->ioc.run();
  if (result) return unreachable(result.message());

  auto& parser = *conn->parser;
  int code = parser.get().result_int();
  if (code != 200) {
    // The agent's own explanation, as kube passes on the kubelet's.
    std::string text;
    std::array<char, 4096> piece;
    while (!parser.is_done() && text.size() < kErrorBodyLimit) {
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      beast::error_code e;
      conn->ioc.restart();
      tcp_stream.expires_after(timeout);
      http::async_read(stream, conn->buffer, parser, [&](beast::error_code e4, size_t) { e = e4; });
      conn->ioc.run();
      text.append(piece.data(), piece.size() - parser.get().body().size);
      if (e && e != http::error::need_buffer) break;
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.empty()) text = "the node agent answered " + std::to_string(code);
    return error_reply(
        {code >= 400 && code < 600 ? code : 502, reason_for(code), text, name, "", "pods/log"});
  }
  tcp_stream.expires_never();
  conn->fd = tcp_stream.socket().native_handle();
  Reply r;
  r.msg.result(http::status::ok);
  r.msg.set(http::field::content_type, "text/plain");
  r.stream = std::make_shared<LogRelay>(std::move(conn));
  return r;
}

}  // namespace podnet::apiserver
