#include "apiserver/auth/admission.h"

namespace podnet::apiserver {

ApiResult<void> AdmissionChain::admit(const AdmissionRequest& request) const {
  for (const AdmissionPlugin* plugin : plugins_)
    if (auto verdict = plugin->admit(request); !verdict) return verdict;
  return {};
}

ApiError admission_forbidden(const AdmissionRequest& request, const std::string& why) {
  const ResourceType& t = request.type;
  std::string qualified = t.group.empty() ? t.plural : t.plural + "." + t.group;
  // kube names the object from the request, else from the object (create), else "Unknown".
  std::string name = request.name.empty() ? "Unknown" : request.name;
  return {403, "Forbidden", qualified + " \"" + name + "\" is forbidden: " + why, name, t.group, t.plural};
}

}  // namespace podnet::apiserver
