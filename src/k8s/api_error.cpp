// Status objects and the standard errors. Messages follow kube-apiserver's so that kubectl output
// and client-side string matching look the same as against a real cluster.
#include "k8s/api_error.h"

#include <boost/json.hpp>

namespace podnet::k8s {
namespace {

std::string qualified(const std::string& group, const std::string& resource) {
  return group.empty() ? resource : resource + "." + group;
}

}  // namespace

ApiError not_found(const std::string& group, const std::string& resource, const std::string& name) {
  return {404, "NotFound", qualified(group, resource) + " \"" + name + "\" not found", name, group, resource};
}

ApiError already_exists(const std::string& group, const std::string& resource, const std::string& name) {
  return {409,  "AlreadyExists", qualified(group, resource) + " \"" + name + "\" already exists",
          name, group,           resource};
}

ApiError conflict(const std::string& group, const std::string& resource, const std::string& name,
                  const std::string& why) {
  return {409,
          "Conflict",
          "Operation cannot be fulfilled on " + qualified(group, resource) + " \"" + name + "\": " + why,
          name,
          group,
          resource};
}

ApiError invalid(const std::string& group, const std::string& kind, const std::string& name,
                 std::vector<StatusCause> causes) {
  // As kube's NewInvalid: the message names the qualified kind (GroupKind.String(), e.g.
  // EndpointSlice.discovery.k8s.io), details.kind the bare one.
  const std::string qualified_kind = group.empty() ? kind : kind + "." + group;
  std::string list;
  for (size_t i = 0; i < causes.size(); ++i) {
    if (i) list += ", ";
    list += causes[i].field + ": " + causes[i].message;
  }
  std::string msg =
      qualified_kind + " \"" + name + "\" is invalid: " + (causes.size() > 1 ? "[" + list + "]" : list);
  ApiError e{422, "Invalid", msg, name, group, kind};
  e.causes = std::move(causes);
  return e;
}

ApiError bad_request(std::string message) {
  return {400, "BadRequest", std::move(message)};
}
ApiError unauthorized() {
  return {401, "Unauthorized", "Unauthorized"};
}
ApiError method_not_allowed(const std::string& method) {
  return {405, "MethodNotAllowed",
          "the server does not allow this method on the requested resource (" + method + ")"};
}
ApiError unsupported_media_type(const std::string& content_type) {
  return {415, "UnsupportedMediaType",
          "the body of the request was in an unknown format - accepted media "
          "types include: application/json, application/json-patch+json, "
          "application/merge-patch+json, application/strategic-merge-patch+json (got \"" +
              content_type + "\")"};
}
ApiError entity_too_large(size_t limit) {
  return {413, "RequestEntityTooLarge",
          "the request body is too large: limit is " + std::to_string(limit) + " bytes"};
}
ApiError expired(std::string message) {
  return {410, "Expired", std::move(message)};
}
ApiError internal_error(std::string message) {
  return {500, "InternalError", std::move(message)};
}

boost::json::value status_json(const ApiError& e) {
  boost::json::object st{{"kind", "Status"},    {"apiVersion", "v1"},   {"metadata", boost::json::object{}},
                         {"status", "Failure"}, {"message", e.message}, {"reason", e.reason},
                         {"code", e.code}};
  boost::json::object details;
  if (!e.name.empty()) details["name"] = e.name;
  if (!e.group.empty()) details["group"] = e.group;
  if (!e.kind.empty()) details["kind"] = e.kind;
  if (!e.causes.empty()) {
    boost::json::array causes;
    for (const auto& c : e.causes)
      causes.push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
    details["causes"] = std::move(causes);
  }
  if (e.retry_after_seconds > 0) details["retryAfterSeconds"] = e.retry_after_seconds;
  if (!details.empty()) st["details"] = std::move(details);
  return st;
}

boost::json::value success_status_json(const std::string& group, const std::string& resource,
                                       const std::string& name, const std::string& uid) {
  boost::json::object details{{"name", name}, {"kind", resource}};
  if (!group.empty()) details["group"] = group;
  if (!uid.empty()) details["uid"] = uid;
  return boost::json::object{{"kind", "Status"},
                             {"apiVersion", "v1"},
                             {"metadata", boost::json::object{}},
                             {"status", "Success"},
                             {"details", std::move(details)}};
}

}  // namespace podnet::k8s
