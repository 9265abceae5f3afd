// `podnet status --graph out.svg`: the cluster at a glance, drawn by Graphviz (libgvc, dot layout):
// one box per node (its InternalIP and pod CIDR) holding its pods (name and IP), the Services with
// an arrow to each endpoint pod (from the EndpointSlices), and the tunnels between the nodes.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "common/error.h"

namespace podnet::troubleshoot {

struct ClusterObjects {
  boost::json::value nodes, pods, services, endpoint_slices;  // LIST responses (items may be absent)
  std::string overlay;                                        // the tunnels' label ("vxlan", "host-gw")
};

// The DOT text (names from the API are escaped, so no object can add DOT of its own).
std::string cluster_dot(const ClusterObjects& objects);
// Lays the DOT out and writes `format` ("svg") to `path`.
Status render_graph(const std::string& dot, const std::string& path, const std::string& format = "svg");

}  // namespace podnet::troubleshoot
