// Threads: the session's state lives on its own io_context and thread. Node connections are opened
// on short-lived threads (a TLS handshake each) and handed back by post; each runs on its own
// thread as exec's relay does, and talks to the session through a PairPeer, which posts.
#include "apiserver/endpoints/spdy_portforward.h"

#include <boost/asio.hpp>
#include <charconv>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "apiserver/endpoints/pod_exec.h"
#include "common/spdy.h"

namespace podnet::apiserver {
namespace net = boost::asio;

namespace {

// Bytes from the client held for node connections before the client is read no further.
constexpr size_t kToNodeHigh = 8 << 20;

class SpdyPortForward;

// What a node relay sees as its client: the messages of one forwarded connection.
class PairPeer final : public WebSocketPeer {
 public:
  PairPeer(std::weak_ptr<SpdyPortForward> session, std::shared_ptr<WebSocketPeer> client,
           std::string request_id)
      : session_(std::move(session)), client_(std::move(client)), id_(std::move(request_id)) {}
  void send(std::string message) override;
  size_t queued_bytes() const override { return client_->queued_bytes(); }
  void read_next() override;
  void end() override;

 private:
  std::weak_ptr<SpdyPortForward> session_;
  std::shared_ptr<WebSocketPeer> client_;
  std::string id_;
};

class SpdyPortForward final : public WebSocketHandler, public std::enable_shared_from_this<SpdyPortForward> {
 public:
  SpdyPortForward(NodeAddress node, std::string ns, std::string pod, KubeletClientTls kubelet,
                  std::chrono::milliseconds timeout)
      : node_(std::move(node)),
        ns_(std::move(ns)),
        pod_(std::move(pod)),
        kubelet_(std::move(kubelet)),
        timeout_(timeout) {}
  ~SpdyPortForward() override {
    if (!thread_.joinable()) return;
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();
    else
      thread_.join();
  }

  void start(std::shared_ptr<WebSocketPeer> peer) override {
    work_.emplace(ioc_.get_executor());
    started_ = true;
    auto self = shared_from_this();
    net::post(ioc_, [self, peer = std::move(peer)]() mutable {
      if (self->ended_) return peer->end();
      self->peer_ = std::move(peer);
    });
    thread_ = std::thread([self]() mutable {
      self->ioc_.run();
      self.reset();
    });
  }

  void on_message(std::string message) override {
    net::post(ioc_, [self = shared_from_this(), m = std::move(message)] { self->from_client(m); });
  }

  void on_closed() override {
    if (!started_) return;
    net::post(ioc_, [self = shared_from_this()] {
      self->end_all();
      self->work_.reset();
    });
  }

  // From PairPeer, on the session's thread.
  void node_message(const std::string& id, std::string message) {
    auto it = pairs_.find(id);
    if (it == pairs_.end() || message.empty() || !peer_) return;
    Pair& p = it->second;
    uint8_t channel = static_cast<uint8_t>(message[0]);
    std::string_view data = std::string_view(message).substr(1);
    // Each channel opens with the port number (2 bytes): the node's framing, not the client's data.
    bool& prefix_seen = channel == 0 ? p.data_prefix_seen : p.error_prefix_seen;
    if (!prefix_seen) {
      prefix_seen = true;
      data.remove_prefix(std::min<size_t>(2, data.size()));
    }
    if (data.empty()) return;
    if (channel == 0 && !p.data_fin)
      peer_->send(spdy::encode_data(p.data_id, 0, data));
    else if (channel == 1 && !p.error_fin)
      peer_->send(spdy::encode_data(p.error_id, 0, data));
  }
  void node_ready(const std::string& id) {
    auto it = pairs_.find(id);
    if (it == pairs_.end()) return;
    it->second.node_busy = false;
    flush_to_node(it->second);
    maybe_read_client();
  }
  void node_ended(const std::string& id) { finish_pair(id); }
  void post(std::function<void(SpdyPortForward&)> fn) {
    net::post(ioc_, [self = shared_from_this(), fn = std::move(fn)] { fn(*self); });
  }

 private:
  struct Pair {
    uint16_t port = 0;
    uint32_t error_id = 0, data_id = 0;
    bool connecting = false;
    std::shared_ptr<WebSocketHandler> node;
    std::deque<std::string> to_node;  // client data for the node, each a v4 message (channel 0)
    bool node_busy = false;           // a message is with the node relay
    bool client_fin = false;          // the client's FIN on the data stream
    bool data_fin = false, error_fin = false, data_prefix_seen = false, error_prefix_seen = false;
  };

  void from_client(const std::string& bytes) {
    if (ended_ || !peer_) return;
    if (!decoder_.feed(bytes)) return session_error();
    while (auto f = decoder_.next()) {
      if (f->control)
        control(*f);
      else
        data(*f);
      if (ended_) return;
    }
    if (decoder_.bad()) return session_error();
    client_paused_ = true;
    maybe_read_client();
  }

  void maybe_read_client() {
    if (!client_paused_ || ended_ || !peer_ || to_node_bytes_ > kToNodeHigh) return;
    client_paused_ = false;
    peer_->read_next();
  }

  void data(const spdy::Frame& f) {
    auto s = streams_.find(f.stream_id);
    if (s == streams_.end()) return;  // a stream already ended (a reset crossing our FIN)
    auto it = pairs_.find(s->second);
    if (it == pairs_.end() || f.stream_id != it->second.data_id || it->second.client_fin) return;
    Pair& p = it->second;
    if (!f.payload.empty()) {
      std::string msg;
      msg.reserve(f.payload.size() + 1);
      msg += '\0';
      msg += f.payload;
      to_node_bytes_ += f.payload.size();
      p.to_node.push_back(std::move(msg));
    }
    if (f.flags & spdy::kFlagFin) {
      // The client sends no more: the node half-closes the pod's socket (close signal on channel 0).
      p.client_fin = true;
      p.to_node.push_back(std::string("\xff\x00", 2));
      to_node_bytes_ += 1;
    }
    flush_to_node(p);
  }

  void flush_to_node(Pair& p) {
    if (!p.node || p.node_busy || p.to_node.empty()) return;
    std::string msg = std::move(p.to_node.front());
    p.to_node.pop_front();
    to_node_bytes_ -= msg.size() - 1;
    p.node_busy = true;
    p.node->on_message(std::move(msg));
  }

  void control(const spdy::Frame& f) {
    switch (static_cast<spdy::ControlType>(f.type)) {
      case spdy::ControlType::kSynStream:
        return syn_stream(f);
      case spdy::ControlType::kRstStream:
        if (auto s = streams_.find(f.stream_id); s != streams_.end()) finish_pair(s->second);
        return;
      case spdy::ControlType::kPing:
        if (auto w = spdy::parse_words(f)) peer_->send(spdy::encode_ping(w->first));
        return;
      case spdy::ControlType::kGoAway:
        return end_all();
      default:
        return;  // SETTINGS, WINDOW_UPDATE (the Go client keeps no windows either), HEADERS
    }
  }

  void syn_stream(const spdy::Frame& f) {
    auto syn = spdy::parse_syn_stream(f);
    if (!syn) return session_error();
    // The header block must be inflated even for a stream refused below: the compression context
    // spans the session.
    auto headers = codec_.decode(syn->header_block);
    if (!headers) return session_error();
    if (syn->stream_id % 2 == 0 || syn->stream_id <= last_stream_id_) return session_error();
    last_stream_id_ = syn->stream_id;
    if (streams_.size() >= kMaxSpdyStreams)
      return peer_->send(spdy::encode_rst_stream(syn->stream_id, spdy::kRefusedStream));
    std::string type = spdy::header_value(*headers, "streamtype");
    std::string port_text = spdy::header_value(*headers, "port");
    std::string id = spdy::header_value(*headers, "requestid");
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    bool port_ok = !port_text.empty() && ec == std::errc() && end == port_text.data() + port_text.size() &&
                   port >= 1 && port <= 65535;
    if ((type != "error" && type != "data") || !port_ok || id.empty() || id.size() > 32)
      return peer_->send(spdy::encode_rst_stream(syn->stream_id, spdy::kProtocolError));
    Pair& p = pairs_[id];
    uint32_t& slot = type == "error" ? p.error_id : p.data_id;
    if (slot != 0 || (p.port != 0 && p.port != port))
      return peer_->send(spdy::encode_rst_stream(syn->stream_id, spdy::kProtocolError));
    slot = syn->stream_id;
    p.port = static_cast<uint16_t>(port);
    streams_[syn->stream_id] = id;
    peer_->send(spdy::encode_syn_reply(codec_, syn->stream_id, 0, {}));
    if (p.error_id && p.data_id && !p.connecting) connect(id, p);
  }

  void connect(const std::string& id, Pair& p) {
    p.connecting = true;
    std::string target = "/portForward/" + percent_encode(ns_) + "/" + percent_encode(pod_) +
                         "?port=" + std::to_string(p.port);
    // The handshake blocks: off the session's thread. The thread keeps the session (and so its
    // io_context) alive until it posted; the posted handler holds it weakly only.
    std::thread([self = shared_from_this(), id, target]() mutable {
      auto node = open_node_stream(self->pod_, self->node_, target, self->kubelet_, self->timeout_, false);
      std::weak_ptr<SpdyPortForward> weak = self;
      net::post(self->ioc_, [weak, id, node = std::move(node)]() mutable {
        if (auto s = weak.lock()) s->connected(id, std::move(node));
      });
    }).detach();
  }

  void connected(const std::string& id, ApiResult<std::shared_ptr<WebSocketHandler>> node) {
    auto it = pairs_.find(id);
    if (it == pairs_.end() || ended_) {
      if (node) (*node)->on_closed();
      return;
    }
    Pair& p = it->second;
    if (!node) {
      // As kubelet reports a failed forward: on the pair's error stream, then both end.
      peer_->send(spdy::encode_data(p.error_id, 0,
                                    "error forwarding port " + std::to_string(p.port) + " to pod " + pod_ +
                                        ": " + node.error().message));
      return finish_pair(id);
    }
    p.node = std::move(*node);
    p.node->start(std::make_shared<PairPeer>(weak_from_this(), peer_, id));
    flush_to_node(p);
  }

  // Both streams end (FIN) and the node connection closes; the client's later reset is ignored.
  void finish_pair(const std::string& id) {
    auto it = pairs_.find(id);
    if (it == pairs_.end()) return;
    Pair& p = it->second;
    if (peer_) {
      if (p.data_id && !p.data_fin) peer_->send(spdy::encode_data(p.data_id, spdy::kFlagFin, {}));
      if (p.error_id && !p.error_fin) peer_->send(spdy::encode_data(p.error_id, spdy::kFlagFin, {}));
    }
    if (p.node) p.node->on_closed();
    for (const auto& m : p.to_node) to_node_bytes_ -= m.size() - 1;
    streams_.erase(p.data_id);
    streams_.erase(p.error_id);
    pairs_.erase(it);
    maybe_read_client();
  }

  void session_error() {
    if (peer_) peer_->send(spdy::encode_goaway(last_stream_id_, 1));
    end_all();
  }

  void end_all() {
    if (ended_) return;
    ended_ = true;
    for (auto& [id, p] : pairs_)
      if (p.node) p.node->on_closed();
    pairs_.clear();
    streams_.clear();
    if (peer_) {
      peer_->end();
      peer_.reset();
    }
  }

  const NodeAddress node_;
  const std::string ns_, pod_;
  const KubeletClientTls kubelet_;
  const std::chrono::milliseconds timeout_;
  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::thread thread_;
  std::atomic<bool> started_{false};
  // On the session's thread only:
  std::shared_ptr<WebSocketPeer> peer_;
  spdy::FrameDecoder decoder_;
  spdy::HeaderCodec codec_;
  std::map<std::string, Pair> pairs_;        // by requestID
  std::map<uint32_t, std::string> streams_;  // stream id -> requestID
  uint32_t last_stream_id_ = 0;
  size_t to_node_bytes_ = 0;
  bool client_paused_ = false;
  bool ended_ = false;
};

void PairPeer::send(std::string message) {
  if (auto s = session_.lock())
    s->post(
        [id = id_, m = std::move(message)](SpdyPortForward& f) mutable { f.node_message(id, std::move(m)); });
}
void PairPeer::read_next() {
  if (auto s = session_.lock()) s->post([id = id_](SpdyPortForward& f) { f.node_ready(id); });
}
void PairPeer::end() {
  if (auto s = session_.lock()) s->post([id = id_](SpdyPortForward& f) { f.node_ended(id); });
}

}  // namespace

std::shared_ptr<WebSocketHandler> make_spdy_portforward(NodeAddress node, std::string ns, std::string pod,
                                                        KubeletClientTls kubelet,
                                                        std::chrono::milliseconds timeout) {
  return std::make_shared<SpdyPortForward>(std::move(node), std::move(ns), std::move(pod), std::move(kubelet),
                                           timeout);
}

}  // namespace podnet::apiserver
