// Kubernetes objects on the revisioned key-value store: keys /registry/<resource>/[<ns>/]<name>,
// JSON values, resourceVersion = the key's mod revision. Create/get/list/update/patch/delete with
// kube's metadata rules (uid, generateName, creationTimestamp, optimistic concurrency, status).
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "apiserver/api_error.h"
#include "apiserver/apply/field_validation.h"
#include "apiserver/auth/admission.h"
#include "apiserver/registry/resources.h"
#include "apiserver/registry/selectors.h"
#include "apiserver/registry/write_hook.h"
#include "k8s/api_client.h"
#include "storage/store.h"

namespace podnet::apiserver {

struct ListQuery {
  LabelSelector labels;
  FieldSelector fields;
  size_t limit = 0;  // 0: everything
  std::string continue_token;
};

// Which part of the object a write may change: the main resource ignores status, /status only
// takes status (kube's status subresource contract).
enum class Subresource { kNone, kStatus };

// Who writes and how strictly, for writes that come from API requests. The defaults (no manager,
// no validation) are for the server's own controllers.
struct WriteOptions {
  std::string field_manager;                  // recorded in metadata.managedFields when set
  std::optional<FieldValidation> validation;  // unset: the object is trusted as it is
  std::vector<std::string> strict_errors;     // found before decoding: `duplicate field "x"`
  std::vector<std::string>* warnings = nullptr;
  // Who writes and the admission chain that judges the object about to be stored; both set for
  // API requests, unset for the server's own writes.
  const AdmissionChain* admission = nullptr;
  const Identity* user = nullptr;
};

class ObjectStore {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  ObjectStore(storage::Store& store, Clock clock, uint64_t random_seed);

  std::string key(const ResourceType& type, const std::string& ns, const std::string& name) const;
  // The prefix of every object of `type` in `ns` (all namespaces when empty).
  std::string prefix(const ResourceType& type, const std::string& ns) const;
  // The stored JSON with metadata.resourceVersion set to the key's mod revision.
  ApiResult<boost::json::value> decode(const storage::KeyValue& kv) const;
  // The same, allocating from `sp` (a LIST parses every item into one arena).
  ApiResult<boost::json::value> decode(const storage::KeyValue& kv, boost::json::storage_ptr sp) const;

  ApiResult<boost::json::value> create(const ResourceType& type, const std::string& ns,
                                       boost::json::value object, const WriteOptions& opts = {});
  ApiResult<boost::json::value> get(const ResourceType& type, const std::string& ns, const std::string& name);
  // A <Kind>List with metadata.resourceVersion and, when paginated, metadata.continue.
  ApiResult<boost::json::value> list(const ResourceType& type, const std::string& ns, const ListQuery& query);
  // The same list as JSON text, for a LIST without selectors: each stored item is copied with its
  // resourceVersion spliced in, instead of being parsed and serialized again (a LIST of 10,000
  // Services is 5 MB of JSON). nullopt: the query has selectors; use list().
  ApiResult<std::optional<std::string>> list_text(const ResourceType& type, const std::string& ns,
                                                  const ListQuery& query);
  ApiResult<boost::json::value> update(const ResourceType& type, const std::string& ns,
                                       const std::string& name, boost::json::value object, Subresource sub,
                                       const WriteOptions& opts = {});
  ApiResult<boost::json::value> patch(const ResourceType& type, const std::string& ns,
                                      const std::string& name, k8s::PatchType patch_type,
                                      const boost::json::value& patch, Subresource sub,
                                      const WriteOptions& opts = {});
  // Server-side apply (server_side_apply.h) by opts.field_manager; creates the object if absent.
  ApiResult<boost::json::value> apply(const ResourceType& type, const std::string& ns,
                                      const std::string& name, const boost::json::value& config, bool force,
                                      Subresource sub, const WriteOptions& opts);
  // The object as it was, with resourceVersion set to the deletion's revision. A non-empty
  // `precondition_rv` must equal the current resourceVersion (409 Conflict otherwise).
  ApiResult<boost::json::value> remove(const ResourceType& type, const std::string& ns,
                                       const std::string& name, const std::string& precondition_rv);

  // Kind-specific write logic (Service allocators, Pod validation); set before serving.
  void set_write_hook(const std::string& kind, WriteHook* hook) { hooks_[kind] = hook; }
  WriteHook* write_hook(const std::string& kind) const {
    auto it = hooks_.find(kind);
    return it == hooks_.end() ? nullptr : it->second;
  }

  storage::Store& store() { return store_; }
  std::chrono::system_clock::time_point now() const { return clock_(); }
  std::string now_rfc3339() const;  // metadata timestamps: "2024-01-02T03:04:05Z"

 private:
  std::string random_suffix(size_t n);
  std::string random_uid();
  ApiResult<storage::KeyValue> get_kv(const ResourceType& type, const std::string& ns,
                                      const std::string& name);
  // Shared by update and patch: merges `object` over `current` per the subresource rules and
  // writes it with compare-and-swap on `current`'s revision.
  ApiResult<boost::json::value> write_update(const ResourceType& type, const std::string& name,
                                             const storage::KeyValue& current, boost::json::value object,
                                             Subresource sub, const WriteOptions& opts, bool decoding);

  storage::Store& store_;
  Clock clock_;
  std::mutex random_mu_;
  std::mt19937_64 random_;
  std::map<std::string, WriteHook*> hooks_;
};

// Checks that the body's kind and apiVersion (when present) are the URL's, and fills them in.
ApiResult<boost::json::value> check_type(const ResourceType& type, boost::json::value object);

}  // namespace podnet::apiserver
