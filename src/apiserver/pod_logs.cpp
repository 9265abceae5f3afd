// The relay: connect and read the agent's response head on a private io_context (the request
// handler thread may block, as it does on storage), then hand the connected socket to a StreamBody
// that reads the rest on the client session's executor and forwards every piece as a chunk.
#include "apiserver/pod_logs.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <limits>

#include "apiserver/api_error.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
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

// The rest of the agent's response, forwarded chunk by chunk.
class LogRelay final : public StreamBody, public std::enable_shared_from_this<LogRelay> {
 public:
  LogRelay(int fd, bool v6, std::unique_ptr<Parser> parser, beast::flat_buffer buffer)
      : fd_(fd), v6_(v6), parser_(std::move(parser)), buffer_(std::move(buffer)) {}
  ~LogRelay() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void start(net::any_io_executor executor, std::shared_ptr<ChunkSink> sink) override {
    sink_ = std::move(sink);
    socket_.emplace(executor);
    beast::error_code ec;
    socket_->assign(v6_ ? tcp::v6() : tcp::v4(), fd_, ec);
    if (ec) return sink_->finish();
    fd_ = -1;  // the socket owns it now
    read();
  }

  void stop() override {
    if (!socket_) return;
    net::post(socket_->get_executor(), [self = shared_from_this()] {
      self->stopped_ = true;
      beast::error_code ignored;
      self->socket_->close(ignored);
    });
  }

 private:
  void read() {
    if (parser_->is_done()) return sink_->finish();
    parser_->get().body().data = chunk_.data();
    parser_->get().body().size = chunk_.size();
    http::async_read(*socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->stopped_) return;
      if (ec == http::error::need_buffer) ec = {};
      size_t got = self->chunk_.size() - self->parser_->get().body().size;
      if (got > 0) self->sink_->write(std::string(self->chunk_.data(), got));
      if (ec) return self->sink_->finish();  // the agent went away: end the log here
      self->read();
    });
  }

  int fd_;
  bool v6_;
  std::unique_ptr<Parser> parser_;
  beast::flat_buffer buffer_;
  std::optional<tcp::socket> socket_;
  std::shared_ptr<ChunkSink> sink_;
  std::array<char, 16 * 1024> chunk_;
  bool stopped_ = false;
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
              const std::string& name, const QueryParams& query, std::chrono::milliseconds timeout) {
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
  auto unreachable = [&](const std::string& what) {
    return error_reply({503, "ServiceUnavailable",
                        "Get \"http://" + ip + ":" + std::to_string(port) + target + "\": " + what});
  };
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  auto parser = std::make_unique<Parser>();
  parser->body_limit(std::numeric_limits<uint64_t>::max());
  beast::flat_buffer buffer;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, ip + ":" + std::to_string(port));
  req.set(http::field::user_agent, "podnet-apiserver");
  beast::error_code result;
  stream.expires_after(timeout);
  stream.async_connect(tcp::endpoint(address, static_cast<uint16_t>(port)), [&](beast::error_code e) {
    if ((result = e)) return;
    http::async_write(stream, req, [&](beast::error_code e2, size_t) {
      if ((result = e2)) return;
      http::async_read_header(stream, buffer, *parser, [&](beast::error_code e3, size_t) { result = e3; });
    });
  });
  ioc.run();
  if (result) return unreachable(result.message());

  int code = parser->get().result_int();
  if (code != 200) {
    // The agent's own explanation, as kube passes on the kubelet's.
    std::string text;
    std::array<char, 4096> piece;
    while (!parser->is_done() && text.size() < kErrorBodyLimit) {
      parser->get().body().data = piece.data();
      parser->get().body().size = piece.size();
      beast::error_code e;
      ioc.restart();
      stream.expires_after(timeout);
      http::async_read(stream, buffer, *parser, [&](beast::error_code e4, size_t) { e = e4; });
      ioc.run();
      text.append(piece.data(), piece.size() - parser->get().body().size);
      if (e && e != http::error::need_buffer) break;
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.empty()) text = "the node agent answered " + std::to_string(code);
    return error_reply(
        {code >= 400 && code < 600 ? code : 502, reason_for(code), text, name, "", "pods/log"});
  }
  stream.expires_never();
  int fd = stream.release_socket().release(ec);
  if (ec) return unreachable(ec.message());
  Reply r;
  r.msg.result(http::status::ok);
  r.msg.set(http::field::content_type, "text/plain");
  r.stream = std::make_shared<LogRelay>(fd, address.is_v6(), std::move(parser), std::move(buffer));
  return r;
}

}  // namespace podnet::apiserver
