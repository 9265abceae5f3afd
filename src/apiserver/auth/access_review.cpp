// Follows pkg/registry/authorization (selfsubjectaccessreview, subjectaccessreview,
// selfsubjectrulesreview) and pkg/registry/authentication/selfsubjectreview: the same validation
// messages, the same reply shapes (the review echoed with its status, metadata.creationTimestamp
// null), so kubectl and client libraries read the answers as they read kube-apiserver's.
#include "apiserver/auth/access_review.h"

#include <algorithm>
#include <boost/json.hpp>
#include <string_view>
#include <utility>

#include "apiserver/registry/object_store.h"
#include "apiserver/validation/field_error.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

// The non-resource URLs this server serves, as a rules review lists them.
const std::vector<std::string> kServedPaths{"/api",        "/api/*",  "/apis",    "/apis/*",
                                            "/healthz",    "/livez",  "/metrics", "/openapi/*",
                                            "/openapi/v3", "/readyz", "/version"};

// kube's decoding error for a field of the wrong JSON type (400, as the decoder answers).
ApiError wrong_type(const ResourceType& type, const std::string& path, const std::string& go_type) {
  return bad_request(type.kind + " in version \"" + type.version + "\" cannot be handled as a " + type.kind +
                     ": json: cannot unmarshal into Go struct field " + path + " of type " + go_type);
}

// An optional object member: null when absent or JSON null.
ApiResult<const json::object*> object_member(const ResourceType& type, const json::object& o,
                                             std::string_view key, const std::string& path,
                                             const std::string& go_type) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return nullptr;
  if (!v->is_object()) return api_fail(wrong_type(type, path, go_type));
  return &v->get_object();
}

ApiResult<std::string> string_member(const ResourceType& type, const json::object& o, std::string_view key,
                                     const std::string& path) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::string();
  if (!v->is_string()) return api_fail(wrong_type(type, path, "string"));
  return std::string(v->get_string());
}

ApiError invalid_review(const ResourceType& type, std::vector<StatusCause> causes) {
  ApiError e = invalid(type.group, type.kind, "", std::move(causes));
  e.kind = type.kind;
  return e;
}

// kube accepts metadata only when it is empty (a client's `creationTimestamp: null` is empty).
bool empty_metadata(const json::object& review) {
  const json::value* meta = review.if_contains("metadata");
  if (!meta || meta->is_null()) return true;
  if (!meta->is_object()) return false;
  for (const auto& [key, value] : meta->get_object()) {
    if (key == "managedFields" || value.is_null()) continue;
    if (value.is_string() && value.get_string().empty()) continue;
    if ((value.is_object() && value.get_object().empty()) || (value.is_array() && value.get_array().empty()))
      continue;
    return false;
  }
  return true;
}

// %#v of the internal NonResourceAttributes, as kube prints it in the cause.
std::string go_non_resource(const json::object& n) {
  auto s = [&](std::string_view k) {
    const json::value* v = n.if_contains(k);
    return field::quote(v && v->is_string() ? std::string_view(v->get_string()) : std::string_view());
  };
  return "authorization.NonResourceAttributes{Path:" + s("path") + ", Verb:" + s("verb") + "}";
}

json::array strings_json(const std::vector<std::string>& v) {
  json::array out;
  for (const auto& s : v) out.emplace_back(s);
  return out;
}

std::vector<ServedResource> served_resources(const ResourceRegistry& registry) {
  std::vector<ServedResource> out;
  for (const auto& t : registry.all()) {
    out.push_back({t.group, t.plural, t.namespaced});
    if (t.has_status) out.push_back({t.group, t.plural + "/status", t.namespaced});
    if (t.group.empty() && t.plural == "pods") out.push_back({t.group, "pods/log", true});
  }
  for (const auto& t : registry.create_only()) out.push_back({t.group, t.plural, t.namespaced});
  return out;
}

// What each create-only kind asks (the registry's create_only() kinds); SubjectAccessReview for
// any other, which the registry never routes here.
enum class Review { kSelfSubject, kSelfSubjectRules, kSelfSubjectAccess, kSubjectAccess };

Review review_of(const ResourceType& type) {
  static constexpr std::pair<std::string_view, Review> kReviews[] = {
      {"SelfSubjectReview", Review::kSelfSubject},
      {"SelfSubjectRulesReview", Review::kSelfSubjectRules},
      {"SelfSubjectAccessReview", Review::kSelfSubjectAccess},
      {"SubjectAccessReview", Review::kSubjectAccess}};
  for (const auto& [kind, review] : kReviews)
    if (kind == type.kind) return review;
  return Review::kSubjectAccess;
}

}  // namespace

ApiResult<json::value> AccessReviews::answer(const Identity& who, const ResourceType& type,
                                             const ResourcePath& a, json::value body) const {
  if (!a.name.empty() || !a.subresource.empty() || !a.ns.empty())
    return api_fail({404, "NotFound", "the server could not find the requested resource"});
  auto typed = check_type(type, std::move(body));
  if (!typed) return std::unexpected(typed.error());
  json::object review = std::move(typed->get_object());
  if (!empty_metadata(review))
    return api_fail(invalid_review(
        type, {field::invalid("metadata", json::serialize(review["metadata"]), "must be empty")}));
  review["metadata"] = json::object{{"creationTimestamp", nullptr}};
  const Review review_kind = review_of(type);
  if (review_kind == Review::kSelfSubject) {
    json::array groups = strings_json(who.groups);
    if (std::find(who.groups.begin(), who.groups.end(), "system:authenticated") == who.groups.end())
      groups.emplace_back("system:authenticated");
    review.erase("spec");
    review["status"] =
        json::object{{"userInfo", json::object{{"username", who.user}, {"groups", std::move(groups)}}}};
    return review;
  }
  auto spec = object_member(type, review, "spec", type.kind + ".spec", "v1." + type.kind + "Spec");
  if (!spec) return std::unexpected(spec.error());
  static const json::object kEmpty;
  const json::object& s = *spec ? **spec : kEmpty;
  if (review_kind == Review::kSelfSubjectRules) {
    auto ns = string_member(type, s, "namespace", type.kind + ".spec.namespace");
    if (!ns) return std::unexpected(ns.error());
    if (ns->empty()) return api_fail(bad_request("no namespace on request"));
    return rules_review(who, std::move(review), *ns);
  }
  if (review_kind == Review::kSelfSubjectAccess) return access_review(who, type, std::move(review), true);

  // SubjectAccessReview: the subject is whoever the spec names, exactly with the groups it lists.
  Identity subject{true, "", {}};
  auto user = string_member(type, s, "user", type.kind + ".spec.user");
  if (!user) return std::unexpected(user.error());
  subject.user = *user;
  if (const json::value* groups = s.if_contains("groups"); groups && !groups->is_null()) {
    if (!groups->is_array()) return api_fail(wrong_type(type, type.kind + ".spec.groups", "[]string"));
    for (const auto& g : groups->get_array()) {
      if (!g.is_string()) return api_fail(wrong_type(type, type.kind + ".spec.groups", "string"));
      subject.groups.emplace_back(g.get_string());
    }
  }
  return access_review(subject, type, std::move(review), false);
}

ApiResult<json::value> AccessReviews::access_review(const Identity& subject, const ResourceType& type,
                                                    json::object review, bool self) const {
  const std::string spec_path = type.kind + ".spec";
  static const json::object kEmpty;
  const json::value* spec_value = review.if_contains("spec");
  const json::object& spec = spec_value && spec_value->is_object() ? spec_value->get_object() : kEmpty;
  auto resource = object_member(type, spec, "resourceAttributes", spec_path + ".resourceAttributes",
                                "v1.ResourceAttributes");
  if (!resource) return std::unexpected(resource.error());
  auto non_resource = object_member(type, spec, "nonResourceAttributes", spec_path + ".nonResourceAttributes",
                                    "v1.NonResourceAttributes");
  if (!non_resource) return std::unexpected(non_resource.error());

  std::vector<StatusCause> causes;
  if (*resource && *non_resource)
    causes.push_back(field::invalid("spec.nonResourceAttributes", go_non_resource(**non_resource),
                                    "cannot be specified in combination with resourceAttributes"));
  if (!*resource && !*non_resource)
    causes.push_back(
        field::invalid("spec.resourceAttributes", "\"null\"",
                       "exactly one of nonResourceAttributes or resourceAttributes must be specified"));
  if (!self && subject.user.empty() && subject.groups.empty())
    causes.push_back(field::invalid("spec.user", "\"\"", "at least one of user or group must be specified"));
  if (!causes.empty()) return api_fail(invalid_review(type, std::move(causes)));

  RequestAttributes what;
  const json::object& attrs = *resource ? **resource : **non_resource;
  const std::string attrs_path = spec_path + (*resource ? ".resourceAttributes" : ".nonResourceAttributes");
  auto get = [&](std::string_view key, std::string& into) -> ApiResult<void> {
    auto v = string_member(type, attrs, key, attrs_path + "." + std::string(key));
    if (!v) return std::unexpected(v.error());
    into = std::move(*v);
    return {};
  };
  std::vector<std::pair<std::string_view, std::string*>> fields{{"verb", &what.verb}};
  if (*resource) {
    what.resource_request = true;
    fields.insert(fields.end(), {{"namespace", &what.ns},
                                 {"group", &what.group},
                                 {"version", &what.version},
                                 {"resource", &what.resource},
                                 {"subresource", &what.subresource},
                                 {"name", &what.name}});
  } else {
    fields.push_back({"path", &what.path});
  }
  for (auto& [key, into] : fields)
    if (auto ok = get(key, *into); !ok) return std::unexpected(ok.error());
  // A create names its object in the body, which is what the name here stands for.
  what.object_name = what.name;

  Decision decision = authorizer_.authorize(subject, what);
  json::object status{{"allowed", decision.allowed}};
  if (!decision.reason.empty()) status["reason"] = decision.reason;
  review["status"] = std::move(status);
  return review;
}

json::value AccessReviews::rules_review(const Identity& who, json::object review,
                                        const std::string& ns) const {
  Rules rules = authorizer_.rules_for(who, ns, served_resources(registry_), kServedPaths);
  json::array resource_rules, non_resource_rules;
  for (const auto& r : rules.resource_rules) {
    json::object rule{{"verbs", strings_json(r.verbs)},
                      {"apiGroups", strings_json(r.api_groups)},
                      {"resources", strings_json(r.resources)}};
    if (!r.resource_names.empty()) rule["resourceNames"] = strings_json(r.resource_names);
    resource_rules.push_back(std::move(rule));
  }
  for (const auto& r : rules.non_resource_rules)
    non_resource_rules.push_back(
        json::object{{"verbs", strings_json(r.verbs)}, {"nonResourceURLs", strings_json(r.urls)}});
  json::object status{{"resourceRules", std::move(resource_rules)},
                      {"nonResourceRules", std::move(non_resource_rules)},
                      {"incomplete", rules.incomplete}};
  if (!rules.evaluation_error.empty()) status["evaluationError"] = rules.evaluation_error;
  review["spec"] = json::object{};
  review["status"] = std::move(status);
  return review;
}

}  // namespace podnet::apiserver
