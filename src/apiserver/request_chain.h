// The API server's request chain without the network: authentication's result (an Identity) in,
// then authorization, admission, the per-kind strategies and write hooks, the object layer, and a
// Reply out. The HTTPS server feeds it parsed requests; InProcessClient (in_process_client.h)
// feeds it the requests of the controllers in the server's process, so both go through exactly
// the same code. Tests build one over their own store.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apiserver/auth/event_rate_limit.h"
#include "apiserver/endpoints/node_dial.h"
#include "apiserver/http/http_types.h"
#include "common/error.h"
#include "common/ip.h"

namespace podnet::apiserver {

class Metrics;
class ObjectStore;
class Readiness;
class ResourceRegistry;

struct ChainOptions {
  // Service clusterIPs (one range, or an IPv4 and an IPv6 range comma-separated) and node ports.
  std::string service_cidr = "10.96.0.0/12";
  std::string node_port_range = "30000-32767";
  // Where node InternalIPs must be; empty: not known.
  std::string node_network;
  // The server's own addresses, which no node may claim.
  std::vector<IpAddress> server_addresses;
  std::vector<EventRateLimit> event_rate_limits = default_event_rate_limits();
  std::chrono::milliseconds bookmark_interval{60000};
  uint64_t random_seed = 1;
  const Readiness* readiness = nullptr;  // /readyz (null: always ready)
  KubeletClientTls kubelet;              // logs, exec, port-forward, proxy to nodes
};

class RequestChain {
 public:
  // Registers the write hooks (Service allocators, validation) on `objects` and rebuilds the
  // Service allocators from what is stored. `objects`, `registry` and `metrics` must outlive the
  // chain; `objects` serves no API write after the chain is gone (its hooks are removed).
  static Result<std::unique_ptr<RequestChain>> make(ObjectStore& objects, const ResourceRegistry& registry,
                                                    Metrics& metrics, ChainOptions options);
  ~RequestChain();

  // The whole chain: 401 for an unauthenticated request, 403 for one the authorizer refuses, then
  // the routes. Thread-safe.
  HttpHandler& handler();

  struct Parts;

 private:
  explicit RequestChain(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace podnet::apiserver
