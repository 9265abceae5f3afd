// Wiring only, moved out of api_server.cpp so that the in-process client and tests get the very
// chain the HTTPS server serves. Member order in Parts is destruction order in reverse.
#include "apiserver/request_chain.h"

#include <boost/json.hpp>

#include "apiserver/auth/access_review.h"
#include "apiserver/auth/authorizer.h"
#include "apiserver/auth/node_restriction.h"
#include "apiserver/endpoints/api_handler.h"
#include "apiserver/http/front_handler.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"
#include "apiserver/registry/service_rest.h"
#include "apiserver/validation/network_policy_validation.h"
#include "apiserver/validation/node_validation.h"
#include "apiserver/validation/pod_validation.h"
#include "apiserver/validation/service_spec.h"

namespace podnet::apiserver {

struct RequestChain::Parts {
  ObjectStore* objects = nullptr;
  std::unique_ptr<ServiceRest> services;
  PodValidation pods;
  NodeValidation nodes;
  NetworkPolicyValidation network_policies;
  std::unique_ptr<NodeRestriction> node_restriction;
  std::unique_ptr<EventRateLimitAdmission> event_rate_limit;
  AdmissionChain admission;
  std::unique_ptr<Authorizer> authorizer;
  std::unique_ptr<AccessReviews> reviews;
  std::unique_ptr<ApiHandler> handler;
  std::unique_ptr<FrontHandler> front;
  std::vector<std::string> hooked_kinds;

  ~Parts() {
    front.reset();
    handler.reset();
    if (objects)
      for (const auto& kind : hooked_kinds) objects->set_write_hook(kind, nullptr);
  }
};

RequestChain::RequestChain(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
RequestChain::~RequestChain() = default;

HttpHandler& RequestChain::handler() {
  return *parts_->front;
}

Result<std::unique_ptr<RequestChain>> RequestChain::make(ObjectStore& objects,
                                                         const ResourceRegistry& registry, Metrics& metrics,
                                                         ChainOptions opts) {
  auto parts = std::make_unique<Parts>();
  parts->objects = &objects;
  auto services = ServiceRest::create(opts.service_cidr, opts.node_port_range, opts.random_seed);
  if (!services) return std::unexpected(wrap(services.error(), "service allocators"));
  parts->services = std::move(*services);
  // Allocation state is whatever the stored Services hold: rebuilt here, before any request.
  if (auto rebuilt = parts->services->rebuild(objects, *registry.find("", "v1", "services")); !rebuilt)
    return std::unexpected(wrap(rebuilt.error(), "service allocators"));
  auto hook = [&](const char* kind, WriteHook* h) {
    objects.set_write_hook(kind, h);
    parts->hooked_kinds.emplace_back(kind);
  };
  hook("Service", parts->services.get());
  hook("Pod", &parts->pods);
  hook("Node", &parts->nodes);
  hook("NetworkPolicy", &parts->network_policies);

  NodeRestrictionOptions restriction;
  if (!opts.node_network.empty()) {
    auto network = parse_prefix(opts.node_network);
    if (!network) return std::unexpected(wrap(network.error(), "node network"));
    restriction.node_network = network->network();
  }
  restriction.server_addresses = std::move(opts.server_addresses);
  restriction.pod_binding = [objects = &objects, pods = registry.find("", "v1", "pods")](
                                const std::string& ns, const std::string& name) -> std::optional<PodBinding> {
    auto pod = objects->get(*pods, ns, name);
    if (!pod) return std::nullopt;
    const boost::json::object& o = pod->as_object();
    const boost::json::object* spec = svc::object(o, "spec");
    const boost::json::object* meta = svc::object(o, "metadata");
    return PodBinding{spec ? svc::str(*spec, "nodeName") : "", meta ? svc::str(*meta, "uid") : ""};
  };
  parts->node_restriction = std::make_unique<NodeRestriction>(std::move(restriction));
  parts->admission.add(*parts->node_restriction);
  // After NodeRestriction, as kube orders them: a refused event takes no token.
  parts->event_rate_limit = std::make_unique<EventRateLimitAdmission>(std::move(opts.event_rate_limits));
  parts->admission.add(*parts->event_rate_limit);

  parts->authorizer = std::make_unique<Authorizer>(pod_node_lookup(objects, registry));
  parts->reviews = std::make_unique<AccessReviews>(*parts->authorizer, registry);
  parts->handler = std::make_unique<ApiHandler>(
      registry, objects,
      ApiHandlerOptions{opts.bookmark_interval, &parts->admission, parts->reviews.get(), opts.readiness});
  parts->front = std::make_unique<FrontHandler>(registry, objects, metrics, *parts->handler,
                                                *parts->authorizer, std::move(opts.kubelet));
  return std::unique_ptr<RequestChain>(new RequestChain(std::move(parts)));
}

}  // namespace podnet::apiserver
