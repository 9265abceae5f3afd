// Where pods/proxy and services/proxy go, decided as kube-apiserver's ResourceLocation decides it
// (pkg/registry/core/pod/strategy.go, service storage): the pod's first IP and the port named in the
// URL (`name`, `name:port`, `scheme:name:port`), or a ready endpoint of the Service whose address
// belongs to the pod it references. On top of kube: the address must not be a node's own, and the
// target is always a pod on a node, whose agent makes the connection (the API server has no route
// to pods). Pure functions of the objects they are given: unit-tested without a cluster.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/api_error.h"

namespace podnet::apiserver {

// kube's utilnet.SplitSchemeNamePort: nullopt when invalid (more than 3 parts, no name, a scheme
// other than http or https).
struct ProxyName {
  std::string scheme, name, port;
};
std::optional<ProxyName> split_scheme_name_port(std::string_view id);

struct ProxyTarget {
  std::string scheme;  // "" or "http" (https to pods is not served)
  std::string ns, pod, node;
  std::string ip;
  uint16_t port = 80;
};

// pods/<id>/proxy: 400 "address not allowed" for a pod without a global unicast address.
ApiResult<ProxyTarget> pod_proxy_target(const boost::json::value& pod, const ProxyName& id);

using PodGetter = std::function<std::optional<boost::json::value>(const std::string& name)>;

// services/<id>/proxy: a numeric port is the Service port of that number (503 "no service port %d
// found for service %q" when none is); then the ready endpoints of `slices` on the port of that
// name whose address is one of the referenced pod's IPs (kube's isValidAddress); `pick` chooses
// among them (a random index below the count in the server). 503 "no endpoints available for
// service %q" when none qualifies.
ApiResult<ProxyTarget> service_proxy_target(const boost::json::value& service,
                                            const std::vector<boost::json::value>& slices,
                                            const PodGetter& pods, const ProxyName& id,
                                            const std::function<size_t(size_t)>& pick);

// 400 "address not allowed" when `ip` is one of the nodes' addresses (status.addresses) or not
// global unicast.
ApiResult<void> check_proxy_address(const std::string& ip, const std::vector<boost::json::value>& nodes);

// The Location of a redirect from the pod, as the client must follow it: an absolute path on the
// pod becomes that path under `proxy_prefix` (".../pods/web:8080/proxy"); anything else unchanged.
std::string rewrite_location(std::string_view location, std::string_view proxy_prefix);

}  // namespace podnet::apiserver
