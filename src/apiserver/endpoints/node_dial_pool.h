// The API server's kept-open connections to node agents (NodeConnectionPool), for nodes/proxy.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "apiserver/endpoints/node_dial.h"

namespace podnet::apiserver {

struct NodeGetReply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

// Verified connections to node agents kept open between GETs whose answer is read whole
// (nodes/proxy): a trace asks a node a handful of small questions, and a TLS handshake with client
// certificates costs both ends more than the question. A connection is kept only when the node
// answered with keep-alive, per node name, address and port (it was verified for exactly those),
// and for at most `max_idle_age`. A node may close an idle connection at any time: one found
// closed is dropped before use, and a GET on a reused connection that fails before any answer is
// sent once more on a fresh one (GETs are idempotent; the node never answered the first).
class NodeConnectionPool {
 public:
  struct Options {
    size_t max_idle_per_node = 4;
    std::chrono::milliseconds max_idle_age = std::chrono::seconds(30);
  };
  struct Stats {
    uint64_t opened = 0;   // fresh connections (handshakes)
    uint64_t reused = 0;   // requests sent on a kept connection
    uint64_t retried = 0;  // reused connections that had been closed: the GET sent again
    uint64_t dropped = 0;  // kept connections found closed (or too old) before use
  };
  NodeConnectionPool() : NodeConnectionPool(Options{}) {}
  explicit NodeConnectionPool(Options options) : options_(options) {}

  // GET `target` from the node agent at `node`, the answer read whole up to `body_limit`. Errors as
  // connect_node's; 503 when the node does not answer within `timeout` (per step: connect and
  // handshake, then the exchange).
  ApiResult<NodeGetReply> get(const NodeAddress& node, const KubeletClientTls& kubelet,
                              const std::string& target, const std::string& what,
                              std::chrono::milliseconds timeout, size_t body_limit);
  Stats stats() const;

 private:
  using Key = std::tuple<std::string, std::string, uint16_t>;
  struct Idle {
    std::unique_ptr<NodeConnection> conn;
    std::chrono::steady_clock::time_point since;
  };
  std::unique_ptr<NodeConnection> take(const Key& key);
  void give_back(const Key& key, std::unique_ptr<NodeConnection> conn);

  Options options_;
  mutable std::mutex mu_;
  std::map<Key, std::vector<Idle>> idle_;
  std::atomic<uint64_t> opened_{0}, reused_{0}, retried_{0}, dropped_{0};
};

}  // namespace podnet::apiserver
