// The questions a client asks about access, answered by the server's live Authorizer and never
// stored: authorization.k8s.io/v1 SelfSubjectAccessReview and SubjectAccessReview (`kubectl auth
// can-i`), SelfSubjectRulesReview (`kubectl auth can-i --list`), and authentication.k8s.io/v1
// SelfSubjectReview (`kubectl auth whoami`). Who may ask is the Authorizer's call, made before.
#pragma once

#include <boost/json/value.hpp>

#include "apiserver/api_error.h"
#include "apiserver/auth/authorizer.h"
#include "apiserver/http/request_info.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

class AccessReviews {
 public:
  // Both must outlive this object.
  AccessReviews(const Authorizer& authorizer, const ResourceRegistry& registry)
      : authorizer_(authorizer), registry_(registry) {}

  // The answer to a POST of `body` to `path` (a create-only kind of the registry) by `who`: the
  // review with its status filled in (HTTP 201), or kube's error.
  ApiResult<boost::json::value> answer(const Identity& who, const ResourceType& type,
                                       const ResourcePath& path, boost::json::value body) const;

 private:
  ApiResult<boost::json::value> access_review(const Identity& subject, const ResourceType& type,
                                              boost::json::object review, bool self) const;
  boost::json::value rules_review(const Identity& who, boost::json::object review,
                                  const std::string& ns) const;

  const Authorizer& authorizer_;
  const ResourceRegistry& registry_;
};

}  // namespace podnet::apiserver
