// The request pipeline in front of the REST API: authentication (401), authorization (403) and
// request metrics for every request, then the routes that are not plain REST: /metrics and
// pods/<name>/log. Everything else goes to the API handler behind it.
#pragma once

#include "apiserver/auth/authorizer.h"
#include "apiserver/endpoints/node_dial_pool.h"
#include "apiserver/endpoints/pod_logs.h"
#include "apiserver/http/http_types.h"
#include "apiserver/http/metrics.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

class FrontHandler final : public HttpHandler {
 public:
  // All references must outlive the handler; `metrics` also every stream it returned.
  FrontHandler(const ResourceRegistry& registry, ObjectStore& objects, Metrics& metrics, HttpHandler& api,
               const Authorizer& authorizer, KubeletClientTls kubelet);

  Reply handle(Request& request) override;
  Reply too_large(size_t limit) override { return api_.too_large(limit); }

 private:
  Reply route(Request& request, const Target& target, const RequestAttributes& attributes);
  RequestLabels metric_labels(const Request& request, const RequestAttributes& attributes) const;

  const ResourceRegistry& registry_;
  ObjectStore& objects_;
  Metrics& metrics_;
  HttpHandler& api_;
  const Authorizer& authorizer_;
  const KubeletClientTls kubelet_;
  NodeConnectionPool node_connections_;  // nodes/proxy's kept-open connections to node agents
};

// The Authorizer's pod lookup over the store: the node a pod is bound to.
PodNodeLookup pod_node_lookup(ObjectStore& objects, const ResourceRegistry& registry);

}  // namespace podnet::apiserver
