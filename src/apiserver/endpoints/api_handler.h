// The Kubernetes API on top of the HTTPS server: authentication, health, discovery, and the REST
// verbs of every registered resource, each answered with JSON or a meta/v1 Status.
#pragma once

#include <chrono>
#include <string>

#include "apiserver/auth/access_review.h"
#include "apiserver/auth/admission.h"
#include "apiserver/endpoints/openapi_v2_endpoint.h"
#include "apiserver/http/http_types.h"
#include "apiserver/http/request_info.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

class Readiness;

struct ApiHandlerOptions {
  std::chrono::milliseconds bookmark_interval{60000};
  // Judges every create, update, patch and apply before it is stored (null: none).
  const AdmissionChain* admission = nullptr;
  // Answers the registry's create-only kinds (null: they are 404).
  const AccessReviews* reviews = nullptr;
  // Answers /readyz (null: always ready).
  const Readiness* readiness = nullptr;
};

class ApiHandler final : public HttpHandler {
 public:
  ApiHandler(const ResourceRegistry& registry, ObjectStore& objects, ApiHandlerOptions options);

  Reply handle(Request& request) override;
  Reply too_large(size_t limit) override;

 private:
  Reply handle_resource(Request& request, const ResourcePath& path, const Target& target);
  Reply handle_review(Request& request, const ResourcePath& path, const ResourceType& type);

  const ResourceRegistry& registry_;
  ObjectStore& objects_;
  ApiHandlerOptions options_;
  OpenApiV2Endpoint openapi_v2_{registry_};
};

}  // namespace podnet::apiserver
