// Threads: the session's state lives on its own io_context and thread, as spdy_portforward's; the
// node relay runs on its own and reaches the session through NodeSide, which posts. What the
// client's bytes mean is spdy::RemoteCommandStreams' (pure, unit-tested and fuzzed); this file
// only moves bytes and messages between the two sides, with back-pressure both ways.
#include "apiserver/endpoints/spdy_exec.h"

#include <atomic>
#include <boost/asio.hpp>
#include <deque>
#include <functional>
#include <optional>
#include <thread>

namespace podnet::apiserver {
namespace net = boost::asio;

namespace {

// Client input held for the node before the client is read no further.
constexpr size_t kToNodeHigh = 4 << 20;
// The client opens its streams right after the 101 (kubelet's streamCreationTimeout is 30 s).
constexpr auto kStreamsWait = std::chrono::seconds(30);

class SpdyRemoteCommand;

// What the node relay sees as its client.
class NodeSide final : public WebSocketPeer {
 public:
  NodeSide(std::weak_ptr<SpdyRemoteCommand> session, std::shared_ptr<WebSocketPeer> client)
      : session_(std::move(session)), client_(std::move(client)) {}
  void send(std::string message) override;
  size_t queued_bytes() const override { return client_->queued_bytes(); }
  void read_next() override;
  void end() override;

 private:
  std::weak_ptr<SpdyRemoteCommand> session_;
  std::shared_ptr<WebSocketPeer> client_;
};

class SpdyRemoteCommand final : public WebSocketHandler,
                                public std::enable_shared_from_this<SpdyRemoteCommand> {
 public:
  SpdyRemoteCommand(std::shared_ptr<WebSocketHandler> node, spdy::StreamsWanted wanted)
      : node_(std::move(node)), streams_(wanted), timer_(ioc_) {}
  ~SpdyRemoteCommand() override {
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
      self->timer_.expires_after(kStreamsWait);
      self->timer_.async_wait([weak = std::weak_ptr<SpdyRemoteCommand>(self)](boost::system::error_code ec) {
        if (auto s = weak.lock(); s && !ec && !s->node_started_) s->end_all();
      });
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
    if (!started_) {
      node_->on_closed();
      return;
    }
    net::post(ioc_, [self = shared_from_this()] {
      self->end_all();
      self->work_.reset();
    });
  }

  void post(std::function<void(SpdyRemoteCommand&)> fn) {
    net::post(ioc_, [self = shared_from_this(), fn = std::move(fn)] { fn(*self); });
  }

  // From the node, on the session's thread.
  void node_message(const std::string& message) {
    if (ended_ || !peer_) return;
    if (std::string frame = streams_.from_node(message); !frame.empty()) peer_->send(std::move(frame));
  }
  void node_ready() {
    node_busy_ = false;
    flush_to_node();
    maybe_read_client();
  }
  void node_ended() {
    // The Status went first (the relay adds one if the agent vanished): every stream ends, then
    // the connection closes once that is written.
    if (!ended_ && peer_) peer_->send(streams_.finish());
    end_all();
  }

 private:
  void from_client(const std::string& bytes) {
    if (ended_ || !peer_) return;
    spdy::RemoteCommandStreams::Output out;
    bool ok = streams_.feed(bytes, out);
    if (!out.to_client.empty()) peer_->send(std::move(out.to_client));
    for (auto& m : out.to_node) {
      to_node_bytes_ += m.size();
      to_node_.push_back(std::move(m));
    }
    if (!ok) return end_all();
    if (!node_started_ && streams_.complete()) {
      node_started_ = true;
      timer_.cancel();
      node_->start(std::make_shared<NodeSide>(weak_from_this(), peer_));
    }
    flush_to_node();
    client_paused_ = true;
    maybe_read_client();
  }

  void maybe_read_client() {
    if (!client_paused_ || ended_ || !peer_ || to_node_bytes_ > kToNodeHigh) return;
    client_paused_ = false;
    peer_->read_next();
  }

  // One message at a time: the relay asks for the next (read_next) once it wrote this one.
  void flush_to_node() {
    if (!node_started_ || node_busy_ || ended_ || to_node_.empty()) return;
    std::string m = std::move(to_node_.front());
    to_node_.pop_front();
    to_node_bytes_ -= m.size();
    node_busy_ = true;
    node_->on_message(std::move(m));
  }

  void end_all() {
    if (ended_) return;
    ended_ = true;
    timer_.cancel();
    node_->on_closed();
    if (peer_) {
      peer_->end();
      peer_.reset();
    }
  }

  std::shared_ptr<WebSocketHandler> node_;
  net::io_context ioc_;
  // On the session's thread only:
  spdy::RemoteCommandStreams streams_;
  net::steady_timer timer_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::thread thread_;
  std::atomic<bool> started_{false};
  std::shared_ptr<WebSocketPeer> peer_;
  std::deque<std::string> to_node_;
  size_t to_node_bytes_ = 0;
  bool node_started_ = false, node_busy_ = false, client_paused_ = false, ended_ = false;
};

void NodeSide::send(std::string message) {
  if (auto s = session_.lock())
    s->post([m = std::move(message)](SpdyRemoteCommand& c) { c.node_message(m); });
}
void NodeSide::read_next() {
  if (auto s = session_.lock()) s->post([](SpdyRemoteCommand& c) { c.node_ready(); });
}
void NodeSide::end() {
  if (auto s = session_.lock()) s->post([](SpdyRemoteCommand& c) { c.node_ended(); });
}

}  // namespace

std::shared_ptr<WebSocketHandler> make_spdy_remote_command(std::shared_ptr<WebSocketHandler> node,
                                                           spdy::StreamsWanted wanted) {
  return std::make_shared<SpdyRemoteCommand>(std::move(node), wanted);
}

}  // namespace podnet::apiserver
