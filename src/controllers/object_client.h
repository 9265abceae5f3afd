// The seam between controllers and the API: list, watch, get and write one resource type. The
// in-process implementation (controlplane/store_object_client.h) talks to the API server's object
// layer directly (no HTTPS); tests may put a fake behind the same interface. Controllers see only
// this header, never the API server's.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "k8s/api_error.h"
#include "k8s/json_fields.h"

namespace podnet::controllers {

using k8s::api_fail;
using k8s::ApiError;
using k8s::ApiResult;
// Objects are shared between the cache and every controller that reads them, never mutated.
using ObjectPtr = std::shared_ptr<const boost::json::value>;

struct ObjectList {
  std::vector<ObjectPtr> items;
  int64_t revision = 0;  // watch from here to see every later change
};

struct ObjectEvent {
  enum class Type { kAdded, kModified, kDeleted };
  Type type = Type::kAdded;
  ObjectPtr object;  // kDeleted: the object as it was last stored
  int64_t revision = 0;
};

class ObjectStream {
 public:
  virtual ~ObjectStream() = default;
  // Waits up to `timeout` for events; empty on timeout. Errors: 410 Expired (re-list), or the stream
  // ended (cancelled, store closed).
  virtual ApiResult<std::vector<ObjectEvent>> next(std::chrono::milliseconds timeout) = 0;
  // Makes a blocked or later next() return an error; callable from any thread.
  virtual void cancel() = 0;
};

class ObjectClient {
 public:
  virtual ~ObjectClient() = default;

  // The resource (plural: "pods", "endpointslices"), for logs.
  virtual const std::string& resource() const = 0;
  // Every object of the type, in all namespaces.
  virtual ApiResult<ObjectList> list() = 0;
  virtual ApiResult<std::unique_ptr<ObjectStream>> watch(int64_t from_revision) = 0;
  virtual ApiResult<boost::json::value> get(const std::string& ns, const std::string& name) = 0;
  virtual ApiResult<boost::json::value> create(const std::string& ns, boost::json::value object) = 0;
  // Optimistic concurrency: a metadata.resourceVersion in `object` must be current (409 otherwise).
  virtual ApiResult<boost::json::value> update(const std::string& ns, const std::string& name,
                                               boost::json::value object) = 0;
  virtual ApiResult<boost::json::value> update_status(const std::string& ns, const std::string& name,
                                                      boost::json::value object) = 0;
  // A JSON merge patch (RFC 7386) of the main resource, without a resourceVersion precondition.
  virtual ApiResult<boost::json::value> patch(const std::string& ns, const std::string& name,
                                              const boost::json::value& merge_patch) = 0;
  // The removed object, its resourceVersion the revision of the deletion.
  virtual ApiResult<boost::json::value> remove(const std::string& ns, const std::string& name) = 0;
  // A DELETE with gracePeriodSeconds=0 and a UID precondition, as the REST layer does it: a pod goes
  // at once (no graceful termination), but finalizers still hold it (deletionTimestamp set). The
  // precondition keeps a pod recreated under the same name meanwhile from being deleted (409).
  virtual ApiResult<boost::json::value> force_delete(const std::string& ns, const std::string& name,
                                                     const std::string& uid) = 0;
  // pods/binding: sets spec.nodeName and a PodScheduled=True condition in one write; 409 Conflict when
  // the pod is already bound (to another node or this one), as kube-apiserver answers.
  virtual ApiResult<boost::json::value> bind(const std::string& ns, const std::string& name,
                                             const std::string& node, const std::string& timestamp) = 0;
};

// Makes the client of one resource ("" or "discovery.k8s.io", "endpointslices"), version v1; the
// composition root hands ControllerManager one (controlplane::object_clients).
using ObjectClientFactory =
    std::function<Result<std::unique_ptr<ObjectClient>>(const std::string& group, const std::string& plural)>;

// Small readers of the JSON objects controllers look at (paths: k8s/json_fields.h).
using k8s::fields::object_at;
using k8s::fields::string_at;
std::string name_of(const boost::json::value& obj);
std::string namespace_of(const boost::json::value& obj);
// "<ns>/<name>", or "<name>" for cluster-scoped objects: the work queue key.
std::string key_of(const boost::json::value& obj);
std::pair<std::string, std::string> split_key(const std::string& key);

}  // namespace podnet::controllers
