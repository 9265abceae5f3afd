// The relay runs on the node connection's own io_context and thread: node frames become client
// messages (paused while the client's queue is long), client messages become node frames (the
// next client message is read once the frame is written). Either side ending ends both.
#include "apiserver/endpoints/pod_exec.h"

#include <sys/socket.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>
#include <optional>
#include <thread>

#include "apiserver/endpoints/pod_logs.h"
#include "apiserver/endpoints/spdy_exec.h"
#include "apiserver/endpoints/spdy_portforward.h"
#include "apiserver/http/websocket_upgrade.h"
#include "common/query.h"
#include "common/request_target.h"
#include "common/stream_frames.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;

namespace {

// A client that reads slower than the command writes gets this much queued, then the node is
// read no further until it drains.
constexpr size_t kClientQueueHigh = 4 << 20;
constexpr size_t kErrorBodyLimit = 64 * 1024;
// command= may repeat: as many as the node takes (runtime/exec_session.cpp), plus the flags.
constexpr size_t kMaxExecQueryParams = 4096 + 16;

Reply error_reply(const ApiError& e) {
  Reply r;
  r.msg.result(static_cast<http::status>(e.code));
  r.msg.set(http::field::content_type, "application/json");
  r.msg.set(http::field::cache_control, "no-cache, private");
  r.msg.body() = json::serialize(status_json(e));
  return r;
}

std::string reason_for(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
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

class StreamRelay final : public WebSocketHandler, public std::enable_shared_from_this<StreamRelay> {
 public:
  // `exec_status`: the streams are exec's, whose client must read a Status on channel 3 at the end.
  StreamRelay(std::shared_ptr<NodeConnection> conn, bool exec_status)
      : conn_(std::move(conn)), timer_(conn_->ioc), exec_status_(exec_status) {}
  ~StreamRelay() override {
    if (!thread_.joinable()) return;
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();
    else
      thread_.join();
  }

  void start(std::shared_ptr<WebSocketPeer> peer) override {
    // Keeps the io_context running after end() until on_closed() came: a handler posted to an
    // io_context that no longer runs would hold this relay forever.
    work_.emplace(conn_->ioc.get_executor());
    started_ = true;
    auto self = shared_from_this();
    net::post(conn_->ioc, [self, peer = std::move(peer)]() mutable {
      if (self->ended_) return peer->end();
      self->peer_ = std::move(peer);
      // What came with the agent's 101 already.
      auto data = self->conn_->buffer.data();
      std::string early(static_cast<const char*>(data.data()), data.size());
      self->conn_->buffer.consume(data.size());
      if (!early.empty() && !self->from_node(early)) return self->end();
      self->read_node();
    });
    thread_ = std::thread([self]() mutable {
      self->conn_->ioc.run();
      self.reset();  // may destroy this relay (see the destructor)
    });
  }

  void on_message(std::string message) override {
    net::post(conn_->ioc, [self = shared_from_this(), message = std::move(message)]() mutable {
      self->to_node(std::move(message));
    });
  }

  // Never started (the client's handshake failed): nothing runs on the io_context, and the
  // connection closes with this relay. Started: the node connection is ended on its own thread,
  // which then runs out of work and lets go of the relay. (Never a shutdown() of conn_->fd from
  // here: end() may have closed that descriptor already and its number may belong to another
  // connection by now, a client's or another node's.)
  void on_closed() override {
    conn_->stopped = true;
    if (started_)
      net::post(conn_->ioc, [self = shared_from_this()] {
        self->end();
        self->work_.reset();
      });
  }

 private:
  void read_node() {
    if (ended_) return;
    if (peer_ && peer_->queued_bytes() > kClientQueueHigh) {
      timer_.expires_after(std::chrono::milliseconds(5));
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->read_node();
      });
      return;
    }
    conn_->stream->async_read_some(net::buffer(buf_),
                                   [self = shared_from_this()](beast::error_code ec, size_t n) {
                                     if (ec || !self->from_node(std::string_view(self->buf_.data(), n)))
                                       return self->end();
                                     self->read_node();
                                   });
  }

  bool from_node(std::string_view bytes) {
    if (!decoder_.feed(bytes)) return false;
    while (auto f = decoder_.next()) {
      if (f->channel == streams::kError) status_seen_ = true;
      std::string msg;
      msg.reserve(f->payload.size() + 1);
      msg += static_cast<char>(f->channel);
      msg += f->payload;
      if (peer_) peer_->send(std::move(msg));
    }
    return true;
  }

  void to_node(std::string message) {
    if (ended_) return;
    if (message.empty() || message.size() - 1 > streams::kMaxFramePayload) {
      if (peer_) peer_->read_next();
      return;
    }
    uint8_t channel = static_cast<uint8_t>(message[0]);
    auto frame =
        std::make_shared<std::string>(streams::encode_frame(channel, std::string_view(message).substr(1)));
    net::async_write(*conn_->stream, net::buffer(*frame),
                     [self = shared_from_this(), frame](beast::error_code ec, size_t) {
                       if (ec) return self->end();
                       if (self->peer_) self->peer_->read_next();
                     });
  }

  void end() {
    if (ended_) return;
    ended_ = true;
    timer_.cancel();
    if (peer_ && exec_status_ && !status_seen_ && !conn_->stopped) {
      // The agent went away mid-session (killed, restarted): without a Status the client would
      // take the end of the streams for success.
      peer_->send(
          std::string(1, static_cast<char>(streams::kError)) +
          R"({"metadata":{},"status":"Failure","message":"the node agent ended the session before the )"
          R"(command finished","reason":"InternalError","code":500})");
    }
    if (peer_) {
      peer_->end();
      peer_.reset();
    }
    beast::error_code ignored;
    beast::get_lowest_layer(*conn_->stream).socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(*conn_->stream).close();
  }

  std::shared_ptr<NodeConnection> conn_;
  net::steady_timer timer_;
  std::shared_ptr<WebSocketPeer> peer_;  // on the io_context's thread only
  std::array<char, 32 * 1024> buf_;
  streams::FrameDecoder decoder_;
  bool ended_ = false;
  const bool exec_status_;
  bool status_seen_ = false;
  std::atomic<bool> started_{false};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::thread thread_;
};

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::string choose_stream_protocol(std::string_view offered) {
  while (!offered.empty()) {
    size_t comma = offered.find(',');
    std::string p = trim(offered.substr(0, comma));
    offered = comma == std::string_view::npos ? std::string_view() : offered.substr(comma + 1);
    for (const auto& served : kStreamProtocols)
      if (p == served) return p;
  }
  return {};
}

ApiResult<ExecOptionsQuery> parse_exec_query(std::string_view t) {
  ExecOptionsQuery q;
  auto params = target::parse_query(target::query_of(t), kMaxExecQueryParams);
  if (!params) return api_fail(bad_request(params.error()));
  for (auto& [key, value] : *params) {
    if (key == "command")
      q.command.push_back(std::move(value));
    else if (key == "container")
      q.container = std::move(value);
    else if (key == "stdin")
      q.stdin = target::kube_bool(value);
    else if (key == "stdout")
      q.stdout = target::kube_bool(value);
    else if (key == "stderr")
      q.stderr = target::kube_bool(value);
    else if (key == "tty")
      q.tty = target::kube_bool(value);
  }
  return q;
}

ApiResult<std::shared_ptr<WebSocketHandler>> open_node_stream(const std::string& name,
                                                              const NodeAddress& node,
                                                              const std::string& target,
                                                              const KubeletClientTls& kubelet,
                                                              std::chrono::milliseconds timeout, bool exec) {
  const std::string what = "Post \"https://" + node.host_port() + target + "\"";

  auto conn = std::make_shared<NodeConnection>();
  if (auto c = connect_node(*conn, node, kubelet, what, timeout); !c) return api_fail(c.error());
  auto& stream = *conn->stream;
  http::request<http::empty_body> req{http::verb::post, target, 11};
  req.set(http::field::host, node.host_port());
  req.set(http::field::user_agent, "podnet-apiserver");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::upgrade, "podnet-stream");
  http::response_parser<http::string_body> parser;
  parser.body_limit(kErrorBodyLimit);
  beast::error_code result;
  auto& tcp_stream = beast::get_lowest_layer(stream);
  tcp_stream.expires_after(timeout);
  http::async_write(stream, req, [&](beast::error_code e, size_t) {
    if ((result = e)) return;
    http::async_read_header(stream, conn->buffer, parser, [&](beast::error_code e1, size_t) { result = e1; });
  });
  conn->ioc.run();
  conn->ioc.restart();
  if (result) return api_fail(ApiError{503, "ServiceUnavailable", what + ": " + result.message()});
  int code = parser.get().result_int();
  if (code != 101) {
    // The agent's own explanation, as kube passes on the kubelet's.
    if (!parser.is_done()) {
      http::async_read(stream, conn->buffer, parser, [&](beast::error_code e2, size_t) { result = e2; });
      conn->ioc.run();
    }
    std::string text = parser.get().body();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.empty()) text = "the node agent answered " + std::to_string(code);
    return api_fail(
        ApiError{code >= 400 && code < 600 ? code : 502, reason_for(code), text, name, "", "pods"});
  }
  tcp_stream.expires_never();
  return std::shared_ptr<WebSocketHandler>(std::make_shared<StreamRelay>(std::move(conn), exec));
}

namespace {

// The upgrade both subresources share, once the request passed its checks: the client's protocol,
// the node's 101 for `target`, and the relay between them.
Reply upgrade_to_node(const Request& request, const std::string& name, const NodeAddress& node,
                      const std::string& target, const KubeletClientTls& kubelet,
                      std::chrono::milliseconds timeout, bool exec, spdy::StreamsWanted wanted) {
  // Only now the protocol: the refusals above are what the client most needs to read.
  std::string protocol;
  if (beast::websocket::is_upgrade(request.msg)) {
    protocol = choose_stream_protocol(request.msg[http::field::sec_websocket_protocol]);
    if (protocol.empty())
      return error_reply(bad_request("unable to upgrade: unable to negotiate protocol: client supports [" +
                                     std::string(request.msg[http::field::sec_websocket_protocol]) +
                                     "], server supports [v5.channel.k8s.io v4.channel.k8s.io]"));
  } else if (beast::iequals(request.msg[http::field::upgrade], "SPDY/3.1")) {
    // kubectl's fallback (and older clients): remotecommand over plain SPDY/3.1 (spdy_exec.h). Go
    // sends one X-Stream-Protocol-Version line per protocol.
    bool offered = false;
    std::string all;
    auto [first, last] = request.msg.equal_range("X-Stream-Protocol-Version");
    for (auto field = first; field != last; ++field) {
      std::string_view v = field->value();
      for (size_t pos = 0; pos < v.size();) {
        size_t comma = std::min(v.find(',', pos), v.size());
        std::string one = trim(v.substr(pos, comma - pos));
        offered |= one == spdy::kRemoteCommandProtocol;
        all += (all.empty() ? "" : " ") + one;
        pos = comma + 1;
      }
    }
    if (!offered)
      return error_reply(bad_request("unable to upgrade: unable to negotiate protocol: client supports [" +
                                     all + "], server supports [" +
                                     std::string(spdy::kRemoteCommandProtocol) + "]"));
    auto handler = open_node_stream(name, node, target, kubelet, timeout, exec);
    if (!handler) return error_reply(handler.error());
    Reply r;
    r.msg.result(http::status::switching_protocols);
    r.msg.set(http::field::connection, "Upgrade");
    r.msg.set(http::field::upgrade, "SPDY/3.1");
    r.msg.set("X-Stream-Protocol-Version", std::string(spdy::kRemoteCommandProtocol));
    auto upgrade =
        std::make_shared<WebSocketUpgrade>(make_spdy_remote_command(std::move(*handler), wanted), "");
    upgrade->raw = true;
    r.stream = std::move(upgrade);
    return r;
  } else if (!request.msg[http::field::upgrade].empty()) {
    return error_reply(
        bad_request("unable to upgrade: podnet serves streams over WebSocket (v5.channel.k8s.io, "
                    "v4.channel.k8s.io) and SPDY/3.1, not " +
                    std::string(request.msg[http::field::upgrade])));
  } else {
    return error_reply(bad_request("Upgrade request required"));
  }

  auto handler = open_node_stream(name, node, target, kubelet, timeout, exec);
  if (!handler) return error_reply(handler.error());
  Reply r;
  r.msg.result(http::status::switching_protocols);
  r.stream = std::make_shared<WebSocketUpgrade>(std::move(*handler), protocol);
  return r;
}

// "Succeeded" or "Failed": a pod whose containers will not run again (kube refuses exec and attach).
std::optional<std::string> completed_phase(const json::value& pod) {
  if (const json::object* o = pod.if_object())
    if (const json::value* st = o->if_contains("status"); st && st->is_object())
      if (const json::value* phase = st->get_object().if_contains("phase");
          phase && phase->is_string() &&
          (phase->get_string() == "Succeeded" || phase->get_string() == "Failed"))
        return std::string(phase->get_string());
  return std::nullopt;
}

}  // namespace

Reply pod_exec(ObjectStore& objects, const ResourceRegistry& registry, const Request& request,
               const std::string& ns, const std::string& name, const KubeletClientTls& kubelet,
               std::chrono::milliseconds timeout) {
  auto query = parse_exec_query(request.msg.target());
  if (!query) return error_reply(query.error());
  auto pod = objects.get(*registry.find("", "v1", "pods"), ns, name);
  if (!pod) return error_reply(pod.error());
  auto container = log_container(*pod, query->container);
  if (!container) return error_reply(container.error());
  if (query->command.empty() || query->command[0].empty())
    return error_reply(bad_request("you must specify at least 1 command"));
  if (!query->stdin && !query->stdout && !query->stderr)
    return error_reply(bad_request("you must specify at least 1 of stdin, stdout, stderr"));
  if (auto done = completed_phase(*pod))
    return error_reply(
        bad_request("cannot exec into a container in a completed pod; current phase is " + *done));
  auto node = pod_node_address(objects, registry, *pod);
  if (!node) return error_reply(node.error());

  std::string target =
      "/exec/" + percent_encode(ns) + "/" + percent_encode(name) + "/" + percent_encode(*container);
  std::string sep = "?";
  for (const auto& c : query->command) {
    target += sep + "command=" + percent_encode(c);
    sep = "&";
  }
  target += "&input=" + std::string(query->stdin ? "1" : "0") + "&output=" + (query->stdout ? "1" : "0") +
            "&error=" + (query->stderr ? "1" : "0") + "&tty=" + (query->tty ? "1" : "0");
  return upgrade_to_node(request, name, *node, target, kubelet, timeout, true,
                         {query->stdin, query->stdout, query->stderr, query->tty});
}

Reply pod_attach(ObjectStore& objects, const ResourceRegistry& registry, const Request& request,
                 const std::string& ns, const std::string& name, const KubeletClientTls& kubelet,
                 std::chrono::milliseconds timeout) {
  // The same options as exec's, without a command.
  auto query = parse_exec_query(request.msg.target());
  if (!query) return error_reply(query.error());
  auto pod = objects.get(*registry.find("", "v1", "pods"), ns, name);
  if (!pod) return error_reply(pod.error());
  auto container = log_container(*pod, query->container);
  if (!container) return error_reply(container.error());
  if (!query->stdin && !query->stdout && !query->stderr)
    return error_reply(bad_request("you must specify at least 1 of stdin, stdout, stderr"));
  if (auto done = completed_phase(*pod))
    return error_reply(
        bad_request("cannot attach a container in a completed pod; current phase is " + *done));
  auto node = pod_node_address(objects, registry, *pod);
  if (!node) return error_reply(node.error());
  std::string target = "/attach/" + percent_encode(ns) + "/" + percent_encode(name) + "/" +
                       percent_encode(*container) + "?input=" + (query->stdin ? "1" : "0") +
                       "&output=" + (query->stdout ? "1" : "0") + "&error=" + (query->stderr ? "1" : "0") +
                       "&tty=" + (query->tty ? "1" : "0");
  return upgrade_to_node(request, name, *node, target, kubelet, timeout, true,
                         {query->stdin, query->stdout, query->stderr, query->tty});
}

Reply pod_portforward(ObjectStore& objects, const ResourceRegistry& registry, const Request& request,
                      const std::string& ns, const std::string& name, const KubeletClientTls& kubelet,
                      std::chrono::milliseconds timeout) {
  std::vector<std::string> ports;
  auto params = target::parse_query(target::query_of(request.msg.target()));
  if (!params) return error_reply(bad_request(params.error()));
  for (auto& [key, value] : *params)
    if (key == "ports") ports.push_back(std::move(value));
  auto pod = objects.get(*registry.find("", "v1", "pods"), ns, name);
  if (!pod) return error_reply(pod.error());
  const json::value* phase = nullptr;
  if (const json::object* o = pod->if_object())
    if (const json::value* st = o->if_contains("status"); st && st->is_object())
      phase = st->get_object().if_contains("phase");
  if (phase && phase->is_string() && phase->get_string() != "Running" && phase->get_string() != "Pending")
    return error_reply(bad_request("unable to forward port because pod is not running. Current status=" +
                                   std::string(phase->get_string())));
  auto node = pod_node_address(objects, registry, *pod);
  if (!node) return error_reply(node.error());
  if (beast::websocket::is_upgrade(request.msg)) {
    std::string_view offered = request.msg[http::field::sec_websocket_protocol];
    for (size_t pos = 0; pos < offered.size();) {
      size_t comma = std::min(offered.find(',', pos), offered.size());
      if (trim(offered.substr(pos, comma - pos)) == kSpdyTunnelProtocol) {
        Reply r;
        r.msg.result(http::status::switching_protocols);
        r.stream = std::make_shared<WebSocketUpgrade>(
            make_spdy_portforward(*node, ns, name, kubelet, timeout), std::string(kSpdyTunnelProtocol));
        return r;
      }
      pos = comma + 1;
    }
  } else if (beast::iequals(request.msg[http::field::upgrade], "SPDY/3.1")) {
    // kubectl's older transport (and its fallback): SPDY/3.1 on the upgraded connection itself,
    // sub-protocol portforward.k8s.io.
    std::string_view versions = request.msg["X-Stream-Protocol-Version"];
    if (versions.find("portforward.k8s.io") == std::string_view::npos)
      return error_reply(bad_request("unable to upgrade: unable to negotiate protocol: client supports [" +
                                     std::string(versions) + "], server supports [portforward.k8s.io]"));
    Reply r;
    r.msg.result(http::status::switching_protocols);
    r.msg.set(http::field::connection, "Upgrade");
    r.msg.set(http::field::upgrade, "SPDY/3.1");
    r.msg.set("X-Stream-Protocol-Version", "portforward.k8s.io");
    auto upgrade =
        std::make_shared<WebSocketUpgrade>(make_spdy_portforward(*node, ns, name, kubelet, timeout), "");
    upgrade->raw = true;
    r.stream = std::move(upgrade);
    return r;
  }
  // The node checks each port (1-65535, at most 64); the list goes as kubelet's `port`.
  std::string target = "/portForward/" + percent_encode(ns) + "/" + percent_encode(name);
  std::string sep = "?";
  for (const auto& p : ports) {
    target += sep + "port=" + percent_encode(p);
    sep = "&";
  }
  return upgrade_to_node(request, name, *node, target, kubelet, timeout, false, {});
}

}  // namespace podnet::apiserver
