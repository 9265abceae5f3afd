#include "apiserver/endpoints/node_dial_pool.h"

#include <poll.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace podnet::apiserver {
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// An idle connection the node has not touched since its last answer: nothing buffered, nothing to
// read (a close_notify or FIN would be), no error or hangup.
bool looks_open(NodeConnection& conn) {
  if (conn.fd < 0 || !conn.stream || conn.buffer.size() != 0) return false;
  pollfd p{conn.fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 0;
}

}  // namespace

std::unique_ptr<NodeConnection> NodeConnectionPool::take(const Key& key) {
  std::vector<std::unique_ptr<NodeConnection>> closed;  // closed outside the lock
  std::unique_ptr<NodeConnection> out;
  {
    std::lock_guard l(mu_);
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto oldest = std::chrono::steady_clock::now() - options_.max_idle_age;
    while (!list.empty() && !out) {
      Idle i = std::move(list.back());
      list.pop_back();
      if (i.since >= oldest && looks_open(*i.conn))
        out = std::move(i.conn);
      else
        closed.push_back(std::move(i.conn));
    }
    if (list.empty()) idle_.erase(it);
  }
  dropped_ += closed.size();
  return out;
}

void NodeConnectionPool::give_back(const Key& key, std::unique_ptr<NodeConnection> conn) {
  std::unique_ptr<NodeConnection> evicted;
  std::lock_guard l(mu_);
  auto& list = idle_[key];
  if (list.size() >= options_.max_idle_per_node) {  // the oldest goes
    evicted = std::move(list.front().conn);
    list.erase(list.begin());
  }
  list.push_back({std::move(conn), std::chrono::steady_clock::now()});
}

NodeConnectionPool::Stats NodeConnectionPool::stats() const {
  return {opened_.load(), reused_.load(), retried_.load(), dropped_.load()};
}

ApiResult<NodeGetReply> NodeConnectionPool::get(const NodeAddress& node, const KubeletClientTls& kubelet,
                                                const std::string& target, const std::string& what,
                                                std::chrono::milliseconds timeout, size_t body_limit) {
  const Key key{node.node_name, node.address.to_string(), node.port};
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<NodeConnection> conn = attempt == 0 ? take(key) : nullptr;
    const bool reused = conn != nullptr;
    if (reused) {
      ++reused_;
    } else {
      conn = std::make_unique<NodeConnection>();
      if (auto c = connect_node(*conn, node, kubelet, what, timeout); !c) return api_fail(c.error());
      ++opened_;
    }
    auto& stream = *conn->stream;
    auto& tcp_stream = beast::get_lowest_layer(stream);
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, node.host_port());
    req.set(http::field::user_agent, "podnet-apiserver");
    req.keep_alive(true);
    http::response_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    beast::error_code result;
    tcp_stream.expires_after(timeout);
    http::async_write(stream, req, [&](beast::error_code e, size_t) {
      if ((result = e)) return;
      http::async_read(stream, conn->buffer, parser, [&](beast::error_code e2, size_t) { result = e2; });
    });
    conn->ioc.restart();
    conn->ioc.run();
    if (result) {
      // A kept connection the node closed meanwhile fails before a byte of answer: the node never
      // saw this GET, so it is sent once more on a fresh connection. A timeout is not retried.
      if (reused && !parser.got_some() && result != beast::error::timeout) {
        ++retried_;
        continue;
      }
      return api_fail({503, "ServiceUnavailable", what + ": " + result.message()});
    }
    auto& res = parser.get();
    NodeGetReply out{res.result_int(), std::string(res[http::field::content_type]), std::move(res.body())};
    if (res.keep_alive() && !parser.need_eof()) give_back(key, std::move(conn));
    return out;
  }
}

}  // namespace podnet::apiserver
