// `podnet trace SRC DST`: the path a packet would take, hop by hop, computed from the API (pods,
// Services, EndpointSlices, Nodes) and from each node's datapath as its agent reports it through
// the node API (nodes/<name>/proxy/podnet/v1/...: routes, VXLAN FDB, fast-path entries and
// counters). No packet is sent. A hop whose state would drop the packet ends the trace as lost there.
#pragma once

#include <boost/json/value.hpp>
#include <functional>
#include <string>

#include "common/error.h"

namespace podnet::troubleshoot {

struct TraceRequest {
  std::string src;  // NS/POD, pod/NS/POD, node/NAME, outside, outside/IP (the client's address)
  // NS/POD, pod/NS/POD, svc/NS/NAME, localhost (from a pod: container to container), or an IP: a
  // pod's, a ClusterIP, a LoadBalancer IP, an external IP, or a node's address (with the nodePort)
  std::string dst;
  std::string proto = "tcp";
  int port = 0;  // 0: the Service's first port (a node's address needs the nodePort)
};

// GET of an API path, JSON back (the HTTPS client in the CLI; a fake in tests).
using ApiGet = std::function<Result<boost::json::value>(const std::string& path)>;

// {"src":{..},"dst":{..},"problem":..,"port":..,"hops":[{"hop","node","detail","evidence"}...],
//  "result":"delivered"|"lost","lost_at":hop|null,"reason":..,"ms":..}. `get` is called from several
// threads at once (node queries run in parallel). Errors: an endpoint that does not exist or cannot be read.
Result<boost::json::value> compute_trace(const ApiGet& get, const TraceRequest& request);

// A person's view of the JSON: one line per hop.
std::string format_trace(const boost::json::value& trace);

struct TraceOptions {
  std::string kubeconfig;  // empty: default_kubeconfig()
  TraceRequest request;
  bool json = false;
};
// The CLI's: 0 delivered, 1 lost, 2 bad input or API errors.
int run_trace(const TraceOptions& opts);

}  // namespace podnet::troubleshoot
