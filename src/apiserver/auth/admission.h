// Admission: the step between authorization and the store write that judges a write by who makes it
// and by the object as it will be stored (after a patch or apply is applied), as kube-apiserver's
// admission chain does. Plugins only refuse; they never change the object.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "apiserver/api_error.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

struct Identity;

enum class AdmissionOperation { kCreate, kUpdate };

// kube's admission.Attributes for one write, built by ObjectStore right before the store write.
struct AdmissionRequest {
  const Identity& user;
  AdmissionOperation operation;
  const ResourceType& type;
  std::string subresource;  // "" or "status"
  std::string ns;
  std::string name;
  const boost::json::object* old;     // the stored object; null on create
  const boost::json::object& object;  // what will be stored
};

class AdmissionPlugin {
 public:
  virtual ~AdmissionPlugin() = default;
  virtual ApiResult<void> admit(const AdmissionRequest& request) const = 0;
};

// The plugins in order; the first refusal ends the write.
class AdmissionChain {
 public:
  void add(const AdmissionPlugin& plugin) { plugins_.push_back(&plugin); }
  ApiResult<void> admit(const AdmissionRequest& request) const;

 private:
  std::vector<const AdmissionPlugin*> plugins_;
};

// kube's admission.NewForbidden: 403 `nodes "node1" is forbidden: <why>`, details naming the object.
ApiError admission_forbidden(const AdmissionRequest& request, const std::string& why);

}  // namespace podnet::apiserver
