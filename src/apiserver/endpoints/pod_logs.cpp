// The relay: connect over TLS, verify the node, and read the agent's response head on a private
// io_context (the request handler thread may block, as it does on storage), then hand the
// connection to a StreamBody whose thread reads the rest and forwards every piece as a chunk.
#include "apiserver/endpoints/pod_logs.h"

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
#include "k8s/json_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

using k8s::fields::at;
using k8s::fields::string_at;

namespace {

constexpr size_t kErrorBodyLimit = 64 * 1024;

using Parser = http::response_parser<http::buffer_body>;

Reply error_reply(const ApiError& e) {
  Reply r;
  r.msg.result(static_cast<http::status>(e.code));
  r.msg.set(http::field::content_type, "application/json");
  r.msg.body() = json::serialize(status_json(e));
  return r;
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
struct LogConnection : NodeConnection {
  std::unique_ptr<Parser> parser = std::make_unique<Parser>();
};

// The rest of the agent's response, forwarded chunk by chunk from a thread of its own (blocking
// reads; stop() wakes it with shutdown()). The connection is shared with that thread, so neither
// the socket nor its descriptor number goes away while the thread may still use it.
class LogRelay final : public StreamBody {
 public:
  explicit LogRelay(std::shared_ptr<LogConnection> conn) : conn_(std::move(conn)) {}
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

  static void relay(LogConnection& c, ChunkSink& sink) {
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

  std::shared_ptr<LogConnection> conn_;
  std::thread thread_;
};

}  // namespace

ApiResult<std::string> log_container(const json::value& pod, const std::string& requested) {
  std::vector<std::string> names;
  for (const char* list : {"containers", "initContainers", "ephemeralContainers"}) {
    const json::value* arr = at(pod, {"spec", list});
    if (!arr || !arr->is_array()) continue;
    for (const auto& c : arr->get_array()) names.push_back(string_at(c, {"name"}));
  }
  std::string pod_name = string_at(pod, {"metadata", "name"});
  if (requested.empty()) {
    const json::value* main = at(pod, {"spec", "containers"});
    if (main && main->is_array() && main->get_array().size() == 1)
      return string_at(main->get_array()[0], {"name"});
    std::string choices;
    if (main && main->is_array())
      for (const auto& c : main->get_array())
        choices += (choices.empty() ? "" : " ") + string_at(c, {"name"});
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
  auto node = pod_node_address(objects, registry, *pod);
  if (!node) return error_reply(node.error());

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
  const std::string url = "https://" + node->host_port() + target;
  auto unreachable = [&](const std::string& what) {
    return error_reply({503, "ServiceUnavailable", "Get \"" + url + "\": " + what});
  };
  auto conn = std::make_shared<LogConnection>();
  if (auto c = connect_node(*conn, *node, kubelet, "Get \"" + url + "\"", timeout); !c)
    return error_reply(c.error());
  auto& stream = *conn->stream;
  auto& tcp_stream = beast::get_lowest_layer(stream);
  conn->parser->body_limit(std::numeric_limits<uint64_t>::max());
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, node->host_port());
  req.set(http::field::user_agent, "podnet-apiserver");
  beast::error_code result;
  tcp_stream.expires_after(timeout);
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
  Reply r;
  r.msg.result(http::status::ok);
  r.msg.set(http::field::content_type, "text/plain");
  r.stream = std::make_shared<LogRelay>(std::move(conn));
  return r;
}

}  // namespace podnet::apiserver
