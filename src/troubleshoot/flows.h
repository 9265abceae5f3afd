// `podnet flows`: the connections the nodes saw (the fast path's flow reports, conntrack events
// of the stack's connections, NetworkPolicy's logged drops), read from each node's agent through the API
// server's nodes/<name>/proxy (node API `flows`), named from the API (pods by IP, Services by their
// EndpointSlices), filtered and printed, once or as a stream. docs/troubleshooting.md.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "common/error.h"
#include "troubleshoot/trace.h"

namespace podnet::troubleshoot {

struct FlowFilter {
  std::string node;     // empty: every node
  std::string ns;       // either end's pod or Service in this namespace
  std::string pod;      // either end is this pod (in ns when given)
  std::string service;  // the destination is an endpoint of this Service (in ns when given)
  std::string verdict;  // forwarded, dropped; empty: both
  int since_seconds = 300;
};

// {"flows":[{node, src, dst, src_pod, dst_pod, dst_service, ...the node's fields}],
//  with, for a DNATed flow through the stack, "endpoint" (the reply's source, "IP:port") and
//  "endpoint_pod"; dst stays the address the client used (the ClusterIP) and dst_pod is the endpoint's
//  pod.
//  "nodes":[{"name","events","lost","drops_logged","evicted","fastpath","error"?}]}.
// A node whose agent cannot be asked is listed with its error, not fatal.
Result<boost::json::value> collect_flows(const ApiGet& get, const FlowFilter& filter);

// One line per flow (a header first when `header`).
std::string format_flows(const boost::json::value& flows, bool header);

struct FlowsOptions {
  std::string kubeconfig;  // empty: default_kubeconfig()
  FlowFilter filter;
  bool json = false;
  bool follow = false;  // stream: ask again every second, print flows new or changed since
};
// The CLI's: 0, or 2 on bad input or API errors. With follow, until killed.
int run_flows(const FlowsOptions& opts);

}  // namespace podnet::troubleshoot
