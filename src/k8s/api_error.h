// Kubernetes API errors as values: an HTTP code, a StatusReason and a message, rendered as a
// meta/v1 Status object exactly as kube-apiserver would (clients switch on `reason`). The API
// server answers with them and every in-process client (controllers) returns them.
#pragma once

#include <boost/json/value.hpp>
#include <expected>
#include <string>
#include <vector>

namespace podnet::k8s {

struct StatusCause {
  std::string reason;  // FieldValueInvalid, FieldValueRequired, ...
  std::string message;
  std::string field;  // metadata.name
};

struct ApiError {
  int code = 500;
  std::string reason;  // NotFound, AlreadyExists, Conflict, Invalid, BadRequest, ...
  std::string message;
  // details: the object the error is about and, for Invalid, the field causes.
  std::string name;
  std::string group;
  std::string kind;  // resource plural, as kube puts it in details.kind
  std::vector<StatusCause> causes;
  int retry_after_seconds = 0;
};

template <class T>
using ApiResult = std::expected<T, ApiError>;

inline std::unexpected<ApiError> api_fail(ApiError e) {
  return std::unexpected(std::move(e));
}

// The usual constructors, with kube's message wording: `pods "x" not found`.
ApiError not_found(const std::string& group, const std::string& resource, const std::string& name);
ApiError already_exists(const std::string& group, const std::string& resource, const std::string& name);
ApiError conflict(const std::string& group, const std::string& resource, const std::string& name,
                  const std::string& why);
ApiError invalid(const std::string& group, const std::string& kind, const std::string& name,
                 std::vector<StatusCause> causes);
ApiError bad_request(std::string message);
ApiError unauthorized();
ApiError method_not_allowed(const std::string& method);
ApiError unsupported_media_type(const std::string& content_type);
ApiError entity_too_large(size_t limit);
ApiError expired(std::string message);  // 410 Gone, reason Expired
ApiError internal_error(std::string message);

// The meta/v1 Status object ("kind":"Status","status":"Failure",...).
boost::json::value status_json(const ApiError& e);
// A success Status, as DELETE of a collection-less resource answers.
boost::json::value success_status_json(const std::string& group, const std::string& resource,
                                       const std::string& name, const std::string& uid);

}  // namespace podnet::k8s
