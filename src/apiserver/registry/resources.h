// The resource types podnet serves: group/version/kind, URL plural, scope, short names, and the
// per-kind rules (name format, status subresource, selectable fields). Discovery and REST read it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace podnet::apiserver {

enum class NameRule {
  kDns1123Subdomain,  // pods, nodes, most kinds
  kDns1123Label,      // namespaces
  kDns1035Label,      // services: must start with a letter (it becomes a DNS name)
};

// A kind within its API group (kube's schema.GroupKind): how code that judges one kind names it.
struct GroupKind {
  std::string_view group;  // "" for core
  std::string_view kind;
  bool operator==(const GroupKind&) const = default;
};

struct ResourceType {
  std::string group;  // "" for core
  std::string version;
  std::string kind;
  std::string plural;    // URL segment and storage key segment
  std::string singular;  // lowercase kind
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool has_status = false;  // a /status subresource; the main resource then ignores status writes
  NameRule name_rule = NameRule::kDns1123Subdomain;
  // fieldSelector paths besides metadata.name and metadata.namespace.
  std::vector<std::string> selectable_fields;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  GroupKind group_kind() const { return {group, kind}; }
};

class ResourceRegistry {
 public:
  // core/v1 namespaces, nodes, pods, services, events; discovery.k8s.io/v1 endpointslices;
  // networking.k8s.io/v1 networkpolicies.
  static ResourceRegistry builtin();

  const ResourceType* find(const std::string& group, const std::string& version,
                           const std::string& plural) const;
  const std::vector<ResourceType>& all() const { return types_; }
  // Kinds that are answered, never stored (kube's access reviews): a POST asks, the reply answers.
  // Discovery lists them with the verb "create" only; find() and all() leave them out.
  const std::vector<ResourceType>& create_only() const { return create_only_; }
  const ResourceType* find_create_only(const std::string& group, const std::string& version,
                                       const std::string& plural) const;
  // Group versions in discovery order, core ("", "v1") first.
  std::vector<std::pair<std::string, std::string>> group_versions() const;

 private:
  std::vector<ResourceType> types_;
  std::vector<ResourceType> create_only_;
};

}  // namespace podnet::apiserver
