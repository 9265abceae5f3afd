// The built-in resource table. Short names and categories are kube's, so `kubectl get po,svc` and
// `kubectl get all` resolve the same way they do against a real cluster.
#include "apiserver/registry/resources.h"

#include <algorithm>
#include <cctype>

namespace podnet::apiserver {

ResourceRegistry ResourceRegistry::builtin() {
  ResourceRegistry r;
  r.types_ = {
      {"",
       "v1",
       "Namespace",
       "namespaces",
       "namespace",
       false,
       {"ns"},
       {},
       true,
       NameRule::kDns1123Label,
       {"status.phase"}},
      {"",
       "v1",
       "Node",
       "nodes",
       "node",
       false,
       {"no"},
       {},
       true,
       NameRule::kDns1123Subdomain,
       {"spec.unschedulable"}},
      {"",
       "v1",
       "Pod",
       "pods",
       "pod",
       true,
       {"po"},
       {"all"},
       true,
       NameRule::kDns1123Subdomain,
       {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}},
      {"",
       "v1",
       "Service",
       "services",
       "service",
       true,
       {"svc"},
       {"all"},
       true,
       NameRule::kDns1035Label,
       {"spec.clusterIP", "spec.type"}},
      {"",
       "v1",
       "Event",
       "events",
       "event",
       true,
       {"ev"},
       {},
       false,
       NameRule::kDns1123Subdomain,
       // kube's event ToSelectableFields ("source" is source.component, else reportingComponent).
       {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
        "reportingComponent", "source", "type"}},
      {"discovery.k8s.io",
       "v1",
       "EndpointSlice",
       "endpointslices",
       "endpointslice",
       true,
       {},
       {},
       false,
       NameRule::kDns1123Subdomain,
       {"addressType"}},
      {"networking.k8s.io",
       "v1",
       "NetworkPolicy",
       "networkpolicies",
       "networkpolicy",
       true,
       {"netpol"},
       {},
       false,
       NameRule::kDns1123Subdomain,
       {}},
  };
  for (const auto& [kind, plural] : {std::pair{"SelfSubjectAccessReview", "selfsubjectaccessreviews"},
                                     std::pair{"SelfSubjectRulesReview", "selfsubjectrulesreviews"},
                                     std::pair{"SubjectAccessReview", "subjectaccessreviews"}}) {
    ResourceType t{"authorization.k8s.io", "v1", kind, plural};
    t.namespaced = false;
    r.create_only_.push_back(std::move(t));
  }
  ResourceType self{"authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews"};
  self.namespaced = false;
  r.create_only_.push_back(std::move(self));
  for (auto& t : r.create_only_) {
    t.singular = t.kind;
    for (char& c : t.singular) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return r;
}

const ResourceType* ResourceRegistry::find(const std::string& group, const std::string& version,
                                           const std::string& plural) const {
  for (const auto& t : types_)
    if (t.group == group && t.version == version && t.plural == plural) return &t;
  return nullptr;
}

const ResourceType* ResourceRegistry::find_create_only(const std::string& group, const std::string& version,
                                                       const std::string& plural) const {
  for (const auto& t : create_only_)
    if (t.group == group && t.version == version && t.plural == plural) return &t;
  return nullptr;
}

std::vector<std::pair<std::string, std::string>> ResourceRegistry::group_versions() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& t : types_) {
    std::pair gv{t.group, t.version};
    if (std::find(out.begin(), out.end(), gv) == out.end()) out.push_back(gv);
  }
  return out;
}

}  // namespace podnet::apiserver
