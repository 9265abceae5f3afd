// Per-kind behaviour of the API server in one table (kube's REST strategies: one entry per kind,
// called by the generic store, the handler, deletion, discovery and the Table printer), so no
// other file asks which kind it holds. Write hooks that keep state (Service allocators, validation)
// are registered per kind on the ObjectStore (object_store.h, write_hook.h).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "apiserver/api_error.h"
#include "apiserver/endpoints/table_printers.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

class ObjectStore;

struct KindStrategy {
  std::string_view group;  // "" for core
  std::string_view kind;
  // kube's SetDefaults_<Kind>, on a create and on every write of the main resource, before managed
  // fields are recorded and admission judges the object. Null: the kind has no defaults.
  void (*defaults)(boost::json::object& object) = nullptr;
  // The columns and cells `kubectl get` prints.
  const TablePrinter* printer = &printers::kNameAge;
  // deletecollection is served (and listed by discovery).
  bool delete_collection = true;
  // A DELETE that removed the object answers with it (kube's ReturnDeletedObject), not a Status.
  bool delete_returns_object = false;
  // kube's CheckGracefulDelete: the seconds a DELETE leaves the object terminating (0: removed at
  // once) from the object and the request's gracePeriodSeconds. Null: never graceful.
  int64_t (*grace_period)(const boost::json::object& object, std::optional<int64_t> requested) = nullptr;
  // A DELETE of one object that the kind carries out itself (a namespace deletes its content
  // first). Null: the generic deletion (deletion.h).
  ApiResult<boost::json::value> (*delete_one)(ObjectStore& objects, const ResourceRegistry& registry,
                                              const std::string& name,
                                              const std::string& precondition_rv) = nullptr;
  // POST <object>/binding (kube's pods/binding, registry/binding.h). Null: no binding subresource.
  ApiResult<boost::json::value> (*bind)(ObjectStore& objects, const ResourceType& type, const std::string& ns,
                                        const std::string& name, const boost::json::value& binding) = nullptr;
  // A read-only subresource besides status ("log" for pods), for discovery; empty: none.
  std::string_view read_subresource;
};

// The strategy of `type`'s group and kind; kinds without an entry get the generic one (no
// defaults, Name/Age columns, plain deletion).
const KindStrategy& strategy_for(const ResourceType& type);

}  // namespace podnet::apiserver
