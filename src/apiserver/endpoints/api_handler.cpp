// Dispatch: 401 before anything else, then health and discovery, then resource URLs by method.
// Request bodies are parsed here (400 for malformed JSON, 415 for unknown media types).
#include "apiserver/endpoints/api_handler.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <unordered_set>

#include "apiserver/apply/server_side_apply.h"
#include "apiserver/endpoints/discovery.h"
#include "apiserver/endpoints/openapi.h"
#include "apiserver/endpoints/protobuf_decode.h"
#include "apiserver/endpoints/readiness.h"
#include "apiserver/endpoints/table.h"
#include "apiserver/endpoints/watch_stream.h"
#include "apiserver/http/limits.h"
#include "apiserver/http/request_info.h"
#include "apiserver/registry/deletion.h"
#include "apiserver/registry/strategy.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

Reply json_reply(http::status status, const json::value& body) {
  Reply r;
  r.msg.result(status);
  r.msg.set(http::field::content_type, "application/json");
  r.msg.set(http::field::cache_control, "no-cache, private");
  r.msg.body() = json::serialize(body);
  return r;
}

Reply error_reply(const ApiError& e) {
  Reply r = json_reply(static_cast<http::status>(e.code), status_json(e));
  // kube's responsewriters: a Status with details.retryAfterSeconds also says it in the header.
  if (e.retry_after_seconds > 0) r.msg.set(http::field::retry_after, std::to_string(e.retry_after_seconds));
  return r;
}

Reply text_reply(std::string text) {
  Reply r;
  r.msg.result(http::status::ok);
  r.msg.set(http::field::content_type, "text/plain; charset=utf-8");
  r.msg.body() = std::move(text);
  return r;
}

std::string media_type(const Request& request) {
  std::string ct(request.msg[http::field::content_type]);
  std::string type = ct.substr(0, ct.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  return type;
}

ApiResult<json::value> parse_body(const Request& request) {
  boost::system::error_code ec;
  json::value v = limits::parse_request(request.msg.body(), ec);
  if (ec) return api_fail(bad_request("couldn't get version/kind; json parse error: " + ec.message()));
  return v;
}

std::string param(const QueryParams& q, const std::string& key) {
  auto it = q.find(key);
  return it == q.end() ? std::string() : it->second;
}

bool flag(const QueryParams& q, const std::string& key) {
  return query_flag(q, key);
}

ApiResult<size_t> parse_count(const std::string& text, const std::string& what) {
  if (text.empty()) return 0;
  size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size())
    return api_fail(bad_request("invalid " + what + " \"" + text + "\""));
  return n;
}

template <class T>
Reply object_or_error(const ApiResult<T>& r, http::status ok = http::status::ok) {
  return r ? json_reply(ok, *r) : error_reply(r.error());
}

// fieldManager (or the User-Agent's product, as kube derives it) and fieldValidation; the caller
// and the admission chain that judges the write.
ApiResult<WriteOptions> write_options(const Request& request, const QueryParams& q, bool json_body,
                                      const AdmissionChain* admission) {
  WriteOptions opts;
  opts.admission = admission;
  opts.user = &request.identity;
  opts.field_manager = param(q, "fieldManager");
  if (opts.field_manager.empty())
    opts.field_manager = manager_from_user_agent(request.msg[http::field::user_agent]);
  auto validation = parse_field_validation(param(q, "fieldValidation"));
  if (!validation) return std::unexpected(validation.error());
  opts.validation = *validation;
  if (json_body)
    for (const auto& d : duplicate_fields(request.msg.body()))
      opts.strict_errors.push_back("duplicate field \"" + d + "\"");
  return opts;
}

// Each dropped or duplicate field as its own 299 warning, which kubectl prints as "Warning: ...".
// As kube's warning recorder: repeats once, and past 4 KiB in all each warning is cut to 256
// characters and the rest dropped, so a body with 80,000 duplicate keys gets a bounded header.
Reply with_warnings(Reply r, const std::vector<std::string>& warnings) {
  constexpr size_t kTotal = 4 * 1024, kItem = 256;
  size_t total = 0;
  std::unordered_set<std::string_view> seen;
  std::vector<std::string_view> unique;
  for (const auto& w : warnings)
    if (!w.empty() && seen.insert(w).second) {
      unique.push_back(w);
      total += w.size();
    }
  bool truncating = total > kTotal;
  size_t written = 0;
  for (std::string_view w : unique) {
    if (truncating && written >= kTotal) break;
    if (truncating && w.size() > kItem) {
      size_t n = kItem;  // on a character boundary
      while (n > 0 && (static_cast<unsigned char>(w[n]) & 0xC0) == 0x80) --n;
      w = w.substr(0, n);
    }
    written += w.size();
    r.msg.insert(http::field::warning, "299 - " + json::serialize(json::value(w)));
  }
  return r;
}

}  // namespace

ApiHandler::ApiHandler(const ResourceRegistry& registry, ObjectStore& objects, ApiHandlerOptions options)
    : registry_(registry), objects_(objects), options_(std::move(options)) {}

Reply ApiHandler::too_large(size_t limit) {
  return error_reply(entity_too_large(limit));
}

Reply ApiHandler::handle(Request& request) {
  if (!request.identity.authenticated) return error_reply(unauthorized());
  Target target = parse_target(request.msg.target());
  const std::string& path = target.path;
  bool get = request.msg.method() == http::verb::get;

  if (path == "/healthz" || path == "/livez") return text_reply("ok");
  if (path == "/readyz") {
    if (!options_.readiness) return text_reply("ok");
    std::set<std::string> excluded;
    for (const auto& [k, v] : target.query)
      if (k == "exclude") excluded.insert(v);
    auto answer = options_.readiness->check(target.query.contains("verbose"), excluded);
    Reply r = text_reply(std::move(answer.body));
    if (!answer.ok) r.msg.result(http::status::internal_server_error);
    return r;
  }
  if (get && path == "/version") return json_reply(http::status::ok, version_json());
  if (get && path == "/api")
    return json_reply(http::status::ok, api_versions_json(std::string(request.msg[http::field::host])));
  if (get && path == "/apis") return json_reply(http::status::ok, api_group_list_json(registry_));
  if (get && path.starts_with("/api/") && path.find('/', 5) == std::string::npos) {
    if (auto doc = api_resource_list_json(registry_, "", path.substr(5)))
      return json_reply(http::status::ok, *doc);
  }
  if (get && path.starts_with("/apis/")) {
    std::string rest = path.substr(6);
    size_t slash = rest.find('/');
    if (slash == std::string::npos) {
      if (auto doc = api_group_json(registry_, rest)) return json_reply(http::status::ok, *doc);
    } else if (rest.find('/', slash + 1) == std::string::npos) {
      if (auto doc = api_resource_list_json(registry_, rest.substr(0, slash), rest.substr(slash + 1)))
        return json_reply(http::status::ok, *doc);
    }
  }
  if (get && path == "/openapi/v2") return openapi_v2_.serve(request);
  if (get && path == "/openapi/v3") return json_reply(http::status::ok, openapi_v3_index(registry_));
  if (get && path.starts_with("/openapi/v3/")) {
    if (auto doc = openapi_v3_document(registry_, path.substr(12))) return json_reply(http::status::ok, *doc);
  }
  if (auto resource_path = parse_resource_path(path)) {
    if (registry_.find(resource_path->group, resource_path->version, resource_path->resource))
      return handle_resource(request, *resource_path, target);
    const ResourceType* review =
        registry_.find_create_only(resource_path->group, resource_path->version, resource_path->resource);
    if (review && options_.reviews) return handle_review(request, *resource_path, *review);
  }
  return error_reply({404, "NotFound", "the server could not find the requested resource"});
}

Reply ApiHandler::handle_review(Request& request, const ResourcePath& rp, const ResourceType& type) {
  if (request.msg.method() != http::verb::post)
    return error_reply(method_not_allowed(std::string(request.msg.method_string())));
  std::string mt = media_type(request);
  if (mt != "application/json" && mt != kProtobufMediaType) return error_reply(unsupported_media_type(mt));
  auto body = mt == kProtobufMediaType ? decode_protobuf_object(request.msg.body()) : parse_body(request);
  if (!body) return error_reply(body.error());
  return object_or_error(options_.reviews->answer(request.identity, type, rp, std::move(*body)),
                         http::status::created);
}

Reply ApiHandler::handle_resource(Request& request, const ResourcePath& rp, const Target& target) {
  const ResourceType& type = *registry_.find(rp.group, rp.version, rp.resource);
  const QueryParams& q = target.query;
  std::string ns = type.namespaced ? rp.ns : "";
  if (!type.namespaced && !rp.ns.empty())
    return error_reply({404, "NotFound", "the server could not find the requested resource"});
  Subresource sub = Subresource::kNone;
  if (rp.subresource == "binding" && strategy_for(type).bind && !rp.name.empty()) {
    if (request.msg.method() != http::verb::post)
      return error_reply(method_not_allowed(std::string(request.msg.method_string())));
    if (ns.empty()) return error_reply(bad_request("a namespace is required for " + type.plural));
    if (!param(q, "dryRun").empty())
      return error_reply(bad_request("dryRun is not supported by this server yet"));
    if (media_type(request) != "application/json")
      return error_reply(unsupported_media_type(media_type(request)));
    auto body = parse_body(request);
    if (!body) return error_reply(body.error());
    return object_or_error(strategy_for(type).bind(objects_, type, ns, rp.name, *body),
                           http::status::created);
  }
  if (!rp.subresource.empty()) {
    if (rp.subresource != "status" || !type.has_status)
      return error_reply({404, "NotFound", "the server could not find the requested resource"});
    sub = Subresource::kStatus;
  }
  if (type.namespaced && !rp.name.empty() && ns.empty())
    return error_reply(bad_request("a namespace is required for " + type.plural));

  const bool table = wants_table(request.msg[http::field::accept]);
  const TableContext table_ctx{objects_.now(), parse_include_object(param(q, "includeObject"))};
  // A dry run that ignored the flag would persist what the client only wanted to check.
  if (!param(q, "dryRun").empty() && request.msg.method() != http::verb::get)
    return error_reply(bad_request("dryRun is not supported by this server yet"));
  switch (request.msg.method()) {
    case http::verb::get: {
      if (!rp.name.empty()) {
        auto obj = objects_.get(type, ns, rp.name);
        if (obj && table) return json_reply(http::status::ok, object_to_table(type, *obj, table_ctx));
        return object_or_error(obj);
      }
      auto labels = parse_label_selector(param(q, "labelSelector"));
      if (!labels) return error_reply(labels.error());
      auto fields = parse_field_selector(param(q, "fieldSelector"), type.selectable_fields);
      if (!fields) return error_reply(fields.error());
      if (flag(q, "watch")) {
        WatchRequest w{&type, ns, std::move(*labels), std::move(*fields), param(q, "resourceVersion")};
        w.bookmarks = flag(q, "allowWatchBookmarks");
        w.bookmark_interval = options_.bookmark_interval;
        if (table) {
          const ResourceType* t = &type;
          ObjectStore* objects = &objects_;
          IncludeObject include = table_ctx.include;
          w.transform = [t, objects, include](const json::value& obj) {
            return object_to_table(*t, obj, TableContext{objects->now(), include});
          };
        }
        auto timeout = parse_count(param(q, "timeoutSeconds"), "timeoutSeconds");
        if (!timeout) return error_reply(timeout.error());
        // Any count parses; past a day it is a day (a larger one would overflow the timer's clock).
        constexpr size_t kMaxWatchSeconds = 24 * 3600;
        if (*timeout > 0) w.timeout = std::chrono::seconds(std::min(*timeout, kMaxWatchSeconds));
        auto rv = parse_resource_version(w.resource_version);
        if (!rv) return error_reply(rv.error());
        if (auto caught_up = wait_for_revision(objects_.store(), *rv); !caught_up)
          return error_reply(caught_up.error());
        Reply r;
        r.msg.result(http::status::ok);
        r.msg.set(http::field::content_type, "application/json");
        r.stream = WatchStream::open(objects_, std::move(w));
        return r;
      }
      auto limit = parse_count(param(q, "limit"), "limit");
      if (!limit) return error_reply(limit.error());
      ListQuery query{std::move(*labels), std::move(*fields), *limit, param(q, "continue")};
      if (!table) {
        auto text = objects_.list_text(type, ns, query);
        if (!text) return error_reply(text.error());
        if (*text) {
          Reply r;
          r.msg.result(http::status::ok);
          r.msg.set(http::field::content_type, "application/json");
          r.msg.set(http::field::cache_control, "no-cache, private");
          r.msg.body() = std::move(**text);
          return r;
        }
      }
      auto list = objects_.list(type, ns, query);
      if (list && table) return json_reply(http::status::ok, list_to_table(type, *list, table_ctx));
      return object_or_error(list);
    }
    case http::verb::post: {
      if (!rp.name.empty() || sub != Subresource::kNone) return error_reply(method_not_allowed("POST"));
      std::string mt = media_type(request);
      if (mt != "application/json" && mt != kProtobufMediaType)
        return error_reply(unsupported_media_type(mt));
      auto body = mt == kProtobufMediaType ? decode_protobuf_object(request.msg.body()) : parse_body(request);
      if (!body) return error_reply(body.error());
      auto opts = write_options(request, q, mt != kProtobufMediaType, options_.admission);
      if (!opts) return error_reply(opts.error());
      std::vector<std::string> warnings;
      opts->warnings = &warnings;
      auto created = objects_.create(type, ns, std::move(*body), *opts);
      return with_warnings(object_or_error(created, http::status::created), warnings);
    }
    case http::verb::put: {
      if (rp.name.empty()) return error_reply(method_not_allowed("PUT"));
      if (media_type(request) != "application/json")
        return error_reply(unsupported_media_type(media_type(request)));
      auto body = parse_body(request);
      if (!body) return error_reply(body.error());
      auto opts = write_options(request, q, true, options_.admission);
      if (!opts) return error_reply(opts.error());
      std::vector<std::string> warnings;
      opts->warnings = &warnings;
      return with_warnings(object_or_error(objects_.update(type, ns, rp.name, std::move(*body), sub, *opts)),
                           warnings);
    }
    case http::verb::patch: {
      if (rp.name.empty()) return error_reply(method_not_allowed("PATCH"));
      std::string mt = media_type(request);
      k8s::PatchType pt = k8s::PatchType::kMerge;
      if (mt == "application/merge-patch+json")
        pt = k8s::PatchType::kMerge;
      else if (mt == "application/json-patch+json")
        pt = k8s::PatchType::kJson;
      else if (mt == "application/strategic-merge-patch+json")
        pt = k8s::PatchType::kStrategicMerge;
      else if (mt != "application/apply-patch+yaml")
        return error_reply(unsupported_media_type(mt));
      auto body = parse_body(request);
      if (!body) return error_reply(body.error());
      auto opts = write_options(request, q, true, options_.admission);
      if (!opts) return error_reply(opts.error());
      std::vector<std::string> warnings;
      opts->warnings = &warnings;
      if (mt == "application/apply-patch+yaml") {
        if (param(q, "fieldManager").empty())
          return error_reply(invalid(
              "meta.k8s.io", "PatchOptions", "",
              {{"FieldValueRequired", "Required value: is required for apply patch", "fieldManager"}}));
        auto applied = objects_.apply(type, ns, rp.name, *body, flag(q, "force"), sub, *opts);
        return with_warnings(object_or_error(applied), warnings);
      }
      if (!param(q, "force").empty())
        return error_reply(invalid(
            "meta.k8s.io", "PatchOptions", "",
            {{"FieldValueForbidden", "Forbidden: may not be specified for non-apply patch", "force"}}));
      return with_warnings(object_or_error(objects_.patch(type, ns, rp.name, pt, *body, sub, *opts)),
                           warnings);
    }
    case http::verb::delete_: {
      if (sub != Subresource::kNone) return error_reply(method_not_allowed("DELETE"));
      const KindStrategy& strategy = strategy_for(type);
      auto options = parse_delete_options(request.msg.body(), q);
      if (!options) return error_reply(options.error());
      if (rp.name.empty()) {
        if (!strategy.delete_collection) return error_reply(method_not_allowed("DELETE"));
        auto labels = parse_label_selector(param(q, "labelSelector"));
        if (!labels) return error_reply(labels.error());
        auto fields = parse_field_selector(param(q, "fieldSelector"), type.selectable_fields);
        if (!fields) return error_reply(fields.error());
        ListQuery query{std::move(*labels), std::move(*fields), 0, ""};
        return object_or_error(delete_collection(objects_, type, ns, query, *options));
      }
      if (strategy.delete_one)
        return object_or_error(
            strategy.delete_one(objects_, registry_, rp.name, options->precondition_rv.value_or("")));
      auto outcome = delete_object(objects_, type, ns, rp.name, *options);
      if (!outcome) return error_reply(outcome.error());
      // Pods answer with the object (kube's ReturnDeletedObject), as does anything whose deletion
      // is still pending; the rest with a success Status.
      if (strategy.delete_returns_object || !outcome->deleted)
        return json_reply(http::status::ok, outcome->object);
      std::string uid;
      if (const auto* meta = outcome->object.get_object().if_contains("metadata"); meta && meta->is_object())
        if (const auto* u = meta->get_object().if_contains("uid"); u && u->is_string())
          uid = std::string(u->get_string());
      return json_reply(http::status::ok, success_status_json(type.group, type.plural, rp.name, uid));
    }
    default:
      return error_reply(method_not_allowed(std::string(request.msg.method_string())));
  }
}

}  // namespace podnet::apiserver
