// The generic registry. Stored values never carry resourceVersion: it is the store's mod revision,
// filled in on every read, so a value and its version cannot disagree.
#include "apiserver/registry/object_store.h"

#include <boost/json.hpp>
#include <charconv>

#include "apiserver/apply/patch.h"
#include "apiserver/apply/server_side_apply.h"
#include "apiserver/apply/strategic_patch.h"
#include "apiserver/http/limits.h"
#include "apiserver/registry/object_meta.h"
#include "apiserver/registry/strategy.h"
#include "apiserver/validation/validation.h"
#include "common/time.h"
#include "k8s/json_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;
using k8s::fields::string_at;
namespace {

constexpr int kPatchAttempts = 5;

json::object& metadata_of(json::object& obj) {
  json::value& meta = obj["metadata"];
  if (!meta.is_object()) meta = json::object{};
  return meta.get_object();
}

// Kube's defaults that clients rely on being present right after create: the kind's strategy's.
void apply_defaults(const ResourceType& type, json::object& obj) {
  if (auto defaults = strategy_for(type).defaults) defaults(obj);
}

// Annotations that are not a map of strings: what kube's decoder answers, 400 for a body it decodes
// (create, update), 422 on the field "patch" for the result of a patch.
std::optional<ApiError> limits_annotations_type(const ResourceType& type, const json::object& meta,
                                                bool decoding, const std::string& name = "") {
  auto wrong = annotations_type_error(meta.if_contains("annotations"));
  if (!wrong) return std::nullopt;
  if (decoding)
    return bad_request(type.kind + " in version \"" + type.version + "\" cannot be handled as a " +
                       type.kind + ": " + *wrong);
  return invalid(type.group, type.kind, name,
                 {{"FieldValueInvalid", "Invalid value: \"metadata.annotations\": " + *wrong, "patch"}});
}

ApiError bad_object(std::string message) {
  return bad_request(std::move(message));
}

// Apply has validated and recorded ownership itself; what it writes is still admitted.
WriteOptions admission_only(const WriteOptions& opts) {
  WriteOptions out;
  out.admission = opts.admission;
  out.user = opts.user;
  return out;
}

ApiResult<void> admit(const WriteOptions& opts, AdmissionOperation operation, const ResourceType& type,
                      Subresource sub, const json::object* old, const json::object& obj) {
  if (!opts.admission || !opts.user) return {};
  const json::value* meta = (old ? *old : obj).if_contains("metadata");
  static const json::object kNone;
  const json::object& m = meta && meta->is_object() ? meta->get_object() : kNone;
  return opts.admission->admit({*opts.user, operation, type, sub == Subresource::kStatus ? "status" : "",
                                string_at(m, {"namespace"}), string_at(m, {"name"}), old, obj});
}

}  // namespace

ApiResult<json::value> check_type(const ResourceType& type, json::value object) {
  json::object* obj = object.if_object();
  if (!obj) return api_fail(bad_object("the body of the request must be a JSON object"));
  std::string api_version = string_at(*obj, {"apiVersion"});
  std::string kind = string_at(*obj, {"kind"});
  if (!api_version.empty() && api_version != type.api_version())
    return api_fail(bad_object("the API version in the data (" + api_version +
                               ") does not match the expected API version (" + type.api_version() + ")"));
  if (!kind.empty() && kind != type.kind)
    return api_fail(bad_object("the kind in the data (" + kind + ") does not match the expected kind (" +
                               type.kind + ")"));
  (*obj)["apiVersion"] = type.api_version();
  (*obj)["kind"] = type.kind;
  return object;
}

ObjectStore::ObjectStore(storage::Store& store, Clock clock, uint64_t random_seed)
    : store_(store), clock_(std::move(clock)), random_(random_seed) {}

std::string ObjectStore::key(const ResourceType& type, const std::string& ns, const std::string& name) const {
  return prefix(type, type.namespaced ? ns : "") + name;
}

std::string ObjectStore::prefix(const ResourceType& type, const std::string& ns) const {
  std::string p = "/registry/" + type.plural + "/";
  if (type.namespaced && !ns.empty()) p += ns + "/";
  return p;
}

ApiResult<json::value> ObjectStore::decode(const storage::KeyValue& kv) const {
  return decode(kv, {});
}

ApiResult<json::value> ObjectStore::decode(const storage::KeyValue& kv, json::storage_ptr sp) const {
  boost::system::error_code ec;
  json::value v = limits::parse_stored(kv.value, ec, std::move(sp));
  if (ec || !v.is_object())
    return api_fail(internal_error("stored object " + kv.key + " is not a JSON object"));
  metadata_of(v.get_object())["resourceVersion"] = std::to_string(kv.mod_revision);
  return v;
}

std::string ObjectStore::now_rfc3339() const {
  return rfc3339(clock_());
}

std::string ObjectStore::random_suffix(size_t n) {
  // kube's alphabet for generateName: no vowels (no words) and no look-alike characters.
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::lock_guard lock(random_mu_);
  std::string out;
  for (size_t i = 0; i < n; ++i) out += kAlphabet[random_() % kAlphabet.size()];
  return out;
}

std::string ObjectStore::random_uid() {
  std::lock_guard lock(random_mu_);
  uint64_t hi = random_(), lo = random_();
  hi = (hi & ~0xf000ULL) | 0x4000ULL;            // version 4
  lo = (lo & ~(0xcULL << 60)) | (0x8ULL << 60);  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

ApiResult<json::value> ObjectStore::create(const ResourceType& type, const std::string& ns,
                                           json::value object, const WriteOptions& opts) {
  auto typed = check_type(type, std::move(object));
  if (!typed) return std::unexpected(typed.error());
  if (opts.validation)
    if (auto v =
            enforce_field_validation(type, *typed, *opts.validation, opts.strict_errors, opts.warnings, true);
        !v)
      return std::unexpected(v.error());
  json::object& obj = typed->get_object();
  json::object& meta = metadata_of(obj);
  std::string body_ns = string_at(meta, {"namespace"});
  if (type.namespaced) {
    if (!body_ns.empty() && body_ns != ns)
      return api_fail(
          bad_request("the namespace of the provided object does not match the namespace sent on "
                      "the request"));
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  std::string name = string_at(meta, {"name"});
  std::string generate = string_at(meta, {"generateName"});
  if (name.empty() && !generate.empty()) name = generate + random_suffix(5);
  if (auto wrong = limits_annotations_type(type, meta, true)) return std::unexpected(*wrong);
  auto causes = validate_name(type.name_rule, name);
  for (auto& c : validate_labels(meta.if_contains("labels"))) causes.push_back(std::move(c));
  for (auto& c : validate_annotations(meta.if_contains("annotations"))) causes.push_back(std::move(c));
  if (!causes.empty()) return api_fail(invalid(type.group, type.kind, name, std::move(causes)));
  if (type.namespaced) {
    static const ResourceType kNamespaces{"", "v1", "Namespace", "namespaces"};
    auto ns_kv = store_.get(key(kNamespaces, "", ns));
    if (!ns_kv) {
      if (ns_kv.error().code == storage::Errc::kNotFound) return api_fail(not_found("", "namespaces", ns));
      return api_fail(from_store(ns_kv.error(), "", "namespaces", ns));
    }
    auto ns_obj = decode(*ns_kv);
    if (!ns_obj) return std::unexpected(ns_obj.error());
    if (ns_obj->at("metadata").as_object().contains("deletionTimestamp"))
      return api_fail({403, "Forbidden",
                       type.plural + " \"" + name +
                           "\" is forbidden: unable to create new content in namespace " + ns +
                           " because it is being terminated",
                       name, type.group, type.plural});
  }
  meta["name"] = name;
  meta["uid"] = random_uid();
  meta["creationTimestamp"] = now_rfc3339();
  meta.erase("resourceVersion");
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  if (obj.contains("spec"))
    meta["generation"] = 1;
  else
    meta.erase("generation");
  apply_defaults(type, obj);
  record_update(type, json::object{}, *typed, FieldOwner{opts.field_manager, false, now_rfc3339()});
  if (auto admitted = admit(opts, AdmissionOperation::kCreate, type, Subresource::kNone, nullptr, obj);
      !admitted)
    return std::unexpected(admitted.error());
  std::unique_ptr<WriteTxn> txn;
  if (WriteHook* hook = write_hook(type.kind)) {
    auto prepared = hook->before_write(nullptr, obj);
    if (!prepared) return std::unexpected(prepared.error());
    txn = std::move(*prepared);
  }
  std::string value = json::serialize(obj);
  if (auto fits = limits::check_object(obj, value, type.group, type.kind, name); !fits)
    return std::unexpected(fits.error());
  auto kv = store_.create(key(type, ns, name), value);
  if (!kv) return api_fail(from_store(kv.error(), type.group, type.plural, name));
  if (txn) txn->commit();
  return decode(*kv);
}

ApiResult<storage::KeyValue> ObjectStore::get_kv(const ResourceType& type, const std::string& ns,
                                                 const std::string& name) {
  auto kv = store_.get(key(type, ns, name));
  if (!kv) return api_fail(from_store(kv.error(), type.group, type.plural, name));
  return *kv;
}

ApiResult<json::value> ObjectStore::get(const ResourceType& type, const std::string& ns,
                                        const std::string& name) {
  auto kv = get_kv(type, ns, name);
  if (!kv) return std::unexpected(kv.error());
  return decode(*kv);
}

ApiResult<json::value> ObjectStore::list(const ResourceType& type, const std::string& ns,
                                         const ListQuery& query) {
  std::string pfx = prefix(type, ns);
  // An exact name narrows the scan to keys starting with it; the selector still checks equality.
  if (const std::string* name = query.fields.required_value("metadata.name");
      name && (!type.namespaced || !ns.empty()))
    pfx += *name;
  // Every item lives until the reply is written, so one arena for the whole list saves a malloc and
  // a free per JSON node (a LIST of 10,000 Services is ~1M nodes).
  json::storage_ptr arena = json::make_shared_resource<json::monotonic_resource>();
  json::array items(arena);
  storage::ListOptions options;
  options.continue_token = query.continue_token;
  storage::Revision revision = 0;
  std::string next;
  // Pages are fetched with the number of items still wanted, so a page always ends at the last item
  // returned and its continue token resumes exactly after it, even when selectors drop items.
  for (;;) {
    options.limit = query.limit == 0 ? 0 : query.limit - items.size();
    auto page = store_.list(pfx, options);
    if (!page) {
      if (page.error().code == storage::Errc::kCompacted)
        return api_fail(
            expired("The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."));
      return api_fail(from_store(page.error(), type.group, type.plural, ""));
    }
    revision = page->revision;
    for (const auto& kv : page->items) {
      auto obj = decode(kv, arena);
      if (!obj) return std::unexpected(obj.error());
      if (query.labels.matches(*obj) && query.fields.matches(*obj)) items.push_back(std::move(*obj));
    }
    next = page->continue_token;
    if (next.empty() || (query.limit != 0 && items.size() >= query.limit)) break;
    options.continue_token = next;
    options.revision = 0;
  }
  json::object list_meta{{"resourceVersion", std::to_string(revision)}};
  if (!next.empty()) list_meta["continue"] = next;
  json::object list(arena);
  list["kind"] = type.kind + "List";
  list["apiVersion"] = type.api_version();
  list["metadata"] = std::move(list_meta);
  list["items"] = std::move(items);
  return list;
}

namespace {

// Where the members of the top-level "metadata" object start in `text` (our own serializer's output:
// no whitespace), or npos. Strings are skipped, so a "metadata" inside an annotation never matches.
size_t metadata_members(std::string_view text) {
  constexpr std::string_view kKey = "\"metadata\":{";
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      if (depth == 1 && text.compare(i, kKey.size(), kKey) == 0) return i + kKey.size();
      for (++i; i < text.size() && text[i] != '"'; ++i)
        if (text[i] == '\\') ++i;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return std::string_view::npos;
}

}  // namespace

ApiResult<std::optional<std::string>> ObjectStore::list_text(const ResourceType& type, const std::string& ns,
                                                             const ListQuery& query) {
  if (!query.labels.requirements.empty() || !query.fields.requirements.empty())
    return std::optional<std::string>{};
  storage::ListOptions options;
  options.continue_token = query.continue_token;
  options.limit = query.limit;
  auto page = store_.list(prefix(type, ns), options);
  if (!page) {
    if (page.error().code == storage::Errc::kCompacted)
      return api_fail(
          expired("The provided continue parameter is too old to display a consistent list "
                  "result. You can start a new list without the continue parameter."));
    return api_fail(from_store(page.error(), type.group, type.plural, ""));
  }
  json::object list_meta{{"resourceVersion", std::to_string(page->revision)}};
  if (!page->continue_token.empty()) list_meta["continue"] = page->continue_token;
  size_t total = 0;
  for (const auto& kv : page->items) total += kv.value.size() + 40;
  std::string out;
  out.reserve(total + 256);
  out += "{\"kind\":";
  out += json::serialize(json::value(type.kind + "List"));
  out += ",\"apiVersion\":";
  out += json::serialize(json::value(type.api_version()));
  out += ",\"metadata\":";
  out += json::serialize(list_meta);
  out += ",\"items\":[";
  bool first = true;
  for (const auto& kv : page->items) {
    if (!first) out += ',';
    first = false;
    std::string_view text = kv.value;
    size_t at = metadata_members(text);
    // Objects written with a resourceVersion inside (or without metadata) take the slow path.
    if (at == std::string_view::npos || text.find("\"resourceVersion\":") != std::string_view::npos) {
      auto obj = decode(kv);
      if (!obj) return std::unexpected(obj.error());
      out += json::serialize(*obj);
      continue;
    }
    out.append(text.substr(0, at));
    out += "\"resourceVersion\":\"";
    out += std::to_string(kv.mod_revision);
    out += text[at] == '}' ? "\"" : "\",";
    out.append(text.substr(at));
  }
  out += "]}";
  return std::optional<std::string>(std::move(out));
}

ApiResult<json::value> ObjectStore::write_update(const ResourceType& type, const std::string& name,
                                                 const storage::KeyValue& current, json::value object,
                                                 Subresource sub, const WriteOptions& opts, bool decoding) {
  auto typed = check_type(type, std::move(object));
  if (!typed) return std::unexpected(typed.error());
  if (opts.validation)
    if (auto v = enforce_field_validation(type, *typed, *opts.validation, opts.strict_errors, opts.warnings,
                                          decoding);
        !v)
      return std::unexpected(v.error());
  auto old = decode(current);
  if (!old) return std::unexpected(old.error());
  json::object& old_obj = old->get_object();
  json::object& old_meta = metadata_of(old_obj);
  json::object& obj = typed->get_object();
  json::object& meta = metadata_of(obj);
  std::string body_name = string_at(meta, {"name"});
  if (!body_name.empty() && body_name != name)
    return api_fail(bad_request("the name of the object (" + body_name +
                                ") does not match the name on the URL (" + name + ")"));
  std::string body_rv = string_at(meta, {"resourceVersion"});
  if (!body_rv.empty() && body_rv != std::to_string(current.mod_revision))
    return api_fail(from_store({storage::Errc::kConflict, ""}, type.group, type.plural, name));

  json::object result;
  if (sub == Subresource::kStatus) {
    // /status: everything but status comes from the stored object.
    result = old_obj;
    if (const json::value* status = obj.if_contains("status")) result["status"] = *status;
  } else {
    result = obj;
    if (type.has_status) {
      if (const json::value* status = old_obj.if_contains("status"))
        result["status"] = *status;
      else
        result.erase("status");
    }
    json::object& rmeta = metadata_of(result);
    // Set once at creation and owned by the server.
    for (const char* field :
         {"uid", "creationTimestamp", "namespace", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
      if (const json::value* v = old_meta.if_contains(field))
        rmeta[field] = *v;
      else
        rmeta.erase(field);
    }
    rmeta["name"] = name;
    if (!type.namespaced) rmeta.erase("namespace");
    apply_defaults(type, result);
    // A body without managedFields leaves ownership as it was (kube: nil keeps, [] resets).
    // (apply_defaults may have moved metadata: look it up again.)
    if (json::object& m = metadata_of(result); !m.contains("managedFields"))
      if (const json::value* mf = old_meta.if_contains("managedFields")) m["managedFields"] = *mf;
    carry_generation(old_obj, result);
  }
  {
    json::value after = std::move(result);
    record_update(type, *old, after,
                  FieldOwner{opts.field_manager, sub == Subresource::kStatus, now_rfc3339()});
    result = std::move(after.get_object());
  }
  if (auto wrong = limits_annotations_type(type, metadata_of(result), decoding, name))
    return std::unexpected(*wrong);
  auto causes = validate_labels(metadata_of(result).if_contains("labels"));
  for (auto& c : validate_annotations(metadata_of(result).if_contains("annotations")))
    causes.push_back(std::move(c));
  if (auto cause = check_finalizers_update(old_meta, metadata_of(result)))
    causes.push_back(std::move(*cause));
  if (!causes.empty()) return api_fail(invalid(type.group, type.kind, name, std::move(causes)));
  if (auto admitted = admit(opts, AdmissionOperation::kUpdate, type, sub, &old_obj, result); !admitted)
    return std::unexpected(admitted.error());
  if (deletion_completes(old_meta, metadata_of(result))) {
    // The last finalizer of a deleting object is gone: the update is its deletion.
    auto removed = store_.remove(current.key, current.mod_revision);
    if (!removed) return api_fail(from_store(removed.error(), type.group, type.plural, name));
    storage::KeyValue last = removed->last;
    last.value = json::serialize(result);
    last.mod_revision = removed->revision;
    auto gone = decode(last);
    if (WriteHook* hook = write_hook(type.kind); hook && gone) hook->after_delete(gone->get_object());
    return gone;
  }
  metadata_of(result).erase("resourceVersion");
  old_meta.erase("resourceVersion");
  std::unique_ptr<WriteTxn> txn;
  if (WriteHook* hook = write_hook(type.kind)) {
    auto prepared = hook->before_write(&old_obj, result);
    if (!prepared) return std::unexpected(prepared.error());
    txn = std::move(*prepared);
  }
  std::string value = json::serialize(result);
  if (json::value(result) == json::value(old_obj)) return decode(current);  // a no-op write keeps its version
  if (auto fits = limits::check_object(result, value, type.group, type.kind, name); !fits)
    return std::unexpected(fits.error());
  auto kv = store_.update(current.key, value, current.mod_revision);
  if (!kv) return api_fail(from_store(kv.error(), type.group, type.plural, name));
  if (txn) txn->commit();
  return decode(*kv);
}

ApiResult<json::value> ObjectStore::update(const ResourceType& type, const std::string& ns,
                                           const std::string& name, json::value object, Subresource sub,
                                           const WriteOptions& opts) {
  auto current = get_kv(type, ns, name);
  if (!current) return std::unexpected(current.error());
  return write_update(type, name, *current, std::move(object), sub, opts, true);
}

ApiResult<json::value> ObjectStore::patch(const ResourceType& type, const std::string& ns,
                                          const std::string& name, k8s::PatchType patch_type,
                                          const json::value& patch, Subresource sub,
                                          const WriteOptions& opts) {
  for (int attempt = 0;; ++attempt) {
    auto current = get_kv(type, ns, name);
    if (!current) return std::unexpected(current.error());
    auto doc = decode(*current);
    if (!doc) return std::unexpected(doc.error());
    json::value patched;
    if (patch_type == k8s::PatchType::kMerge) {
      if (!patch.is_object()) return api_fail(bad_request("a merge patch must be a JSON object"));
      patched = apply_merge_patch(*doc, patch);
    } else if (patch_type == k8s::PatchType::kStrategicMerge) {
      auto r = apply_strategic_merge_patch(*doc, patch);
      if (!r) return std::unexpected(r.error());
      patched = std::move(*r);
    } else {
      auto r = apply_json_patch(*doc, patch);
      if (!r) return std::unexpected(r.error());
      patched = std::move(*r);
    }
    if (!patched.is_object()) return api_fail(bad_request("the patched document is not a JSON object"));
    auto result = write_update(type, name, *current, std::move(patched), sub, opts, false);
    // A conflict here is a race with another writer (the patch carried no precondition of its own
    // unless it set resourceVersion), so re-read and re-apply, as kube does.
    bool raced = !result && result.error().reason == "Conflict" && attempt + 1 < kPatchAttempts;
    if (raced) {
      const json::object* pobj = patch.if_object();
      const json::value* pmeta = pobj ? pobj->if_contains("metadata") : nullptr;
      if (pmeta && pmeta->is_object() && pmeta->get_object().contains("resourceVersion")) return result;
      continue;
    }
    return result;
  }
}

ApiResult<json::value> ObjectStore::remove(const ResourceType& type, const std::string& ns,
                                           const std::string& name, const std::string& precondition_rv) {
  storage::Revision expected = 0;
  if (!precondition_rv.empty()) {
    auto [end, ec] =
        std::from_chars(precondition_rv.data(), precondition_rv.data() + precondition_rv.size(), expected);
    if (ec != std::errc() || end != precondition_rv.data() + precondition_rv.size())
      return api_fail(bad_request("invalid resourceVersion precondition \"" + precondition_rv + "\""));
  }
  auto removed = store_.remove(key(type, ns, name), expected);
  if (!removed) return api_fail(from_store(removed.error(), type.group, type.plural, name));
  storage::KeyValue last = removed->last;
  last.mod_revision = removed->revision;
  auto gone = decode(last);
  if (WriteHook* hook = write_hook(type.kind); hook && gone) hook->after_delete(gone->get_object());
  return gone;
}

ApiResult<json::value> ObjectStore::apply(const ResourceType& type, const std::string& ns,
                                          const std::string& name, const json::value& config, bool force,
                                          Subresource sub, const WriteOptions& opts) {
  auto typed = check_type(type, config);
  if (!typed) return std::unexpected(typed.error());
  if (opts.validation == FieldValidation::kStrict && !opts.strict_errors.empty())
    return api_fail(bad_request("error strict decoding YAML: " + opts.strict_errors.front()));
  if (opts.warnings)
    opts.warnings->insert(opts.warnings->end(), opts.strict_errors.begin(), opts.strict_errors.end());
  FieldOwner owner{opts.field_manager, sub == Subresource::kStatus, now_rfc3339()};
  for (int attempt = 0;; ++attempt) {
    auto current = get_kv(type, ns, name);
    if (!current) {
      if (current.error().code != 404 || sub != Subresource::kNone) return std::unexpected(current.error());
      std::string body_name = string_at(metadata_of(typed->get_object()), {"name"});
      if (!body_name.empty() && body_name != name)
        return api_fail(bad_request("the name of the object (" + body_name +
                                    ") does not match the name on the URL (" + name + ")"));
      auto applied = server_side_apply(type, nullptr, *typed, owner, force);
      if (!applied) return applied;
      metadata_of(applied->get_object())["name"] = name;
      auto created = create(type, ns, std::move(*applied), admission_only(opts));
      if (!created && created.error().reason == "AlreadyExists" && attempt + 1 < kPatchAttempts) continue;
      return created;
    }
    auto doc = decode(*current);
    if (!doc) return std::unexpected(doc.error());
    auto applied = server_side_apply(type, &*doc, *typed, owner, force);
    if (!applied) return applied;
    auto result = write_update(type, name, *current, std::move(*applied), sub, admission_only(opts), false);
    bool pinned = !string_at(metadata_of(typed->get_object()), {"resourceVersion"}).empty();
    if (!result && result.error().reason == "Conflict" && result.error().causes.empty() && !pinned &&
        attempt + 1 < kPatchAttempts)
      continue;  // raced with another writer: re-read and re-apply
    return result;
  }
}

}  // namespace podnet::apiserver
