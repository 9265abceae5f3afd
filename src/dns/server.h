// The node-local DNS server: UDP and TCP on the given addresses (the kube-dns ClusterIP on the
// node's lo, port 53), answering the cluster zone from a RecordStore and forwarding every other
// name to upstream resolvers through a bounded cache. One thread runs one non-blocking epoll loop;
// every buffer and table is bounded (TCP connections, bytes per connection, queries in flight,
// cache entries), so a flood costs answers, not memory.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/ip.h"
#include "dns/cache.h"
#include "dns/metrics.h"
#include "dns/store.h"

namespace podnet::dns {

struct SocketAddress {
  IpAddress ip;
  uint16_t port = 53;
  std::string str() const;  // "10.96.0.10:53", "[fd00::a]:53"
  bool operator==(const SocketAddress&) const = default;
};

// "1.2.3.4", "1.2.3.4:5353", "[fd00::1]:53", "fd00::1".
Result<SocketAddress> parse_socket_address(std::string_view text);
// The `nameserver` lines of a resolv.conf text (port 53).
std::vector<SocketAddress> resolv_conf_nameservers(std::string_view text);

struct ServerOptions {
  std::vector<SocketAddress> listen;     // port 0: any (tests)
  std::vector<SocketAddress> upstreams;  // empty: names outside the cluster zone get SERVFAIL
  size_t max_tcp_connections = 256;
  std::chrono::milliseconds tcp_idle_timeout{10000};
  std::chrono::milliseconds upstream_timeout{2000};  // per upstream; then the next one is tried
  size_t max_in_flight = 4096;                       // forwarded queries awaiting an answer
  AnswerCache::Options cache;
};

class Server {
 public:
  // Binds every listen address (UDP and TCP) now, so failures are reported before run().
  // Upstreams equal to a listen address are refused (a forwarding loop by construction).
  static Result<std::unique_ptr<Server>> create(const RecordStore& store, DnsMetrics& metrics,
                                                ServerOptions options);
  ~Server();

  // Serves until stop(); call from one thread.
  void run();
  void stop();  // thread-safe
  // The bound addresses (ports resolved), in the order of options.listen.
  const std::vector<SocketAddress>& addresses() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::dns
