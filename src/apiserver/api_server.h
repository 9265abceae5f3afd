// `podnet server` as a library: opens the store under the data directory (repairing or quarantining
// stored objects it cannot serve, stored_audit.h), makes or loads the credentials, creates the
// built-in namespaces, serves the API over HTTPS and writes admin.kubeconfig. It starts no
// controllers: the composition root (cli/server.cpp) does, over objects() and registry().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apiserver/auth/event_rate_limit.h"
#include "apiserver/http/http_types.h"
#include "apiserver/http/limits.h"
#include "apiserver/registry/stored_audit.h"
#include "common/error.h"
#include "k8s/api_client.h"
#include "storage/store.h"

namespace podnet::apiserver {

class ObjectStore;
class Readiness;
class ResourceRegistry;

struct ApiServerOptions {
  std::string data_dir;
  std::string bind_address = "127.0.0.1";
  uint16_t port = 6443;  // 0: a free port (tests); the kubeconfig gets the real one
  size_t body_limit = limits::kMaxRequestBodyBytes;
  size_t max_connections = limits::kDefaultMaxConnections;
  // Request handlers block on storage writes (group commit waits for fsync), so a few more threads
  // than cores let concurrent writes share a commit.
  int threads = 4;
  // Service clusterIPs (one range, or an IPv4 and an IPv6 range comma-separated) and node ports.
  std::string service_cidr = "10.96.0.0/12";
  // Where node InternalIPs must be (a node reporting another is refused); empty: not known.
  std::string node_network;
  std::string node_port_range = "30000-32767";
  std::chrono::milliseconds bookmark_interval{60000};
  std::chrono::milliseconds compaction_interval{std::chrono::minutes(5)};  // 0: never compact
  // Injected for tests; real time and a random seed otherwise.
  std::function<std::chrono::system_clock::time_point()> clock;
  uint64_t random_seed = 0;  // 0: from std::random_device
  // Events are deleted this long after their last write (kube's --event-ttl); 0: kept forever.
  std::chrono::milliseconds event_ttl{std::chrono::hours(1)};
  // EventRateLimit admission (event_rate_limit.h); empty: no limits.
  std::vector<EventRateLimit> event_rate_limits = default_event_rate_limits();
};

class ApiServer {
 public:
  static Result<std::unique_ptr<ApiServer>> start(ApiServerOptions options);
  ~ApiServer();

  uint16_t port() const;
  std::string kubeconfig_path() const;
  std::string pki_dir() const;
  // The backing store, for tests (compaction).
  storage::Store& store();
  // The object layer and the kinds it serves (tests, the start-up audit).
  ObjectStore& objects();
  const ResourceRegistry& registry() const;
  // /readyz's checks; the composition root adds the controllers'.
  Readiness& readiness();
  // A client acting as `who` through the same chain as an HTTPS request of `who` (authorization,
  // admission, strategies; in_process_client.h), for the controllers in the server's process
  // (controller_identity()). It must not outlive the server.
  std::unique_ptr<k8s::ApiClient> client(const Identity& who);
  // The request chain the HTTPS server hands requests to (authentication's result in, a Reply out).
  HttpHandler& handler();
  // What the start-up audit of stored objects found (repairs, quarantines), for the caller to log.
  const AuditReport& audit() const;

  struct Parts;

 private:
  explicit ApiServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace podnet::apiserver
