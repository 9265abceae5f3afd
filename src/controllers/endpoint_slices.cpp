// Desired state: per (address type, resolved ports) a set of endpoints keyed by address. Existing
// slices are matched to it group by group: an endpoint still wanted stays in its slice, new ones
// first fill slices that change anyway, then slices with room, then new slices.
#include "controllers/endpoint_slices.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/ip.h"

namespace podnet::controllers {
namespace json = boost::json;
namespace {

bool matches(const json::object& selector, const json::value& pod) {
  const auto* labels = object_at(pod, {"metadata", "labels"});
  for (const auto& [k, v] : selector) {
    const json::value* have = labels ? labels->if_contains(k) : nullptr;
    if (!have || *have != v) return false;
  }
  return true;
}

// The services whose slices a pod takes part in: a selector (non-empty), not ExternalName.
const json::object* selector_of(const json::value& svc) {
  if (string_at(svc, {"spec", "type"}) == "ExternalName") return nullptr;
  const auto* selector = object_at(svc, {"spec", "selector"});
  return selector && !selector->empty() ? selector : nullptr;
}

bool pod_ready(const json::value& pod) {
  const auto* status = object_at(pod, {"status"});
  const auto* conds = status ? status->if_contains("conditions") : nullptr;
  if (!conds || !conds->is_array()) return false;
  for (const auto& c : conds->as_array())
    if (string_at(c, {"type"}) == "Ready") return string_at(c, {"status"}) == "True";
  return false;
}

std::vector<std::string> pod_ips(const json::value& pod) {
  std::vector<std::string> out;
  const auto* status = object_at(pod, {"status"});
  if (const auto* ips = status ? status->if_contains("podIPs") : nullptr; ips && ips->is_array())
    for (const auto& ip : ips->as_array())
      if (std::string s = string_at(ip, {"ip"}); !s.empty()) out.push_back(s);
  if (out.empty())
    if (std::string s = string_at(pod, {"status", "podIP"}); !s.empty()) out.push_back(s);
  return out;
}

// A named targetPort is looked up in the pod's containers (same protocol); numbers are taken as
// they are. nullopt when the pod has no such port: the endpoint then lacks this service port.
std::optional<int64_t> resolve_port(const json::value& svc_port, const json::value& pod) {
  const auto& p = svc_port.as_object();
  const json::value* target = p.if_contains("targetPort");
  if (!target) target = p.if_contains("port");
  if (!target) return std::nullopt;
  if (target->is_int64()) return target->as_int64();
  if (target->is_uint64()) return static_cast<int64_t>(target->as_uint64());
  if (!target->is_string()) return std::nullopt;
  std::string name(target->as_string());
  std::string protocol = string_at(svc_port, {"protocol"});
  if (protocol.empty()) protocol = "TCP";
  const auto* spec = object_at(pod, {"spec"});
  const auto* containers = spec ? spec->if_contains("containers") : nullptr;
  if (!containers || !containers->is_array()) return std::nullopt;
  for (const auto& c : containers->as_array()) {
    const auto* ports = c.is_object() ? c.as_object().if_contains("ports") : nullptr;
    if (!ports || !ports->is_array()) continue;
    for (const auto& cp : ports->as_array()) {
      std::string cp_protocol = string_at(cp, {"protocol"});
      if (cp_protocol.empty()) cp_protocol = "TCP";
      if (string_at(cp, {"name"}) != name || cp_protocol != protocol) continue;
      const json::value* number = cp.as_object().if_contains("containerPort");
      if (number && number->is_int64()) return number->as_int64();
      if (number && number->is_uint64()) return static_cast<int64_t>(number->as_uint64());
    }
  }
  return std::nullopt;
}

json::array endpoint_ports(const json::value& svc, const json::value& pod) {
  json::array out;
  const auto* spec = object_at(svc, {"spec"});
  const auto* ports = spec ? spec->if_contains("ports") : nullptr;
  if (!ports || !ports->is_array()) return out;
  for (const auto& p : ports->as_array()) {
    if (!p.is_object()) continue;
    auto number = resolve_port(p, pod);
    if (!number) continue;
    std::string protocol = string_at(p, {"protocol"});
    json::object port{{"name", string_at(p, {"name"})},
                      {"protocol", protocol.empty() ? "TCP" : protocol},
                      {"port", *number}};
    if (std::string app = string_at(p, {"appProtocol"}); !app.empty()) port["appProtocol"] = app;
    out.push_back(std::move(port));
  }
  return out;
}

struct Group {
  std::string address_type;
  json::array ports;
  std::map<std::string, json::value> endpoints;  // by address: a stable order
};

// Group key: address type and the resolved ports, as text.
std::string group_key(const std::string& address_type, const json::value& ports) {
  return address_type + " " + json::serialize(ports);
}

// Only for values held elsewhere: an object argument would convert to a temporary value.
const json::array* array_at(const json::object&, const char*) = delete;
const json::array* array_at(const json::value& v, const char* field) {
  const auto* o = v.if_object();
  const auto* a = o ? o->if_contains(field) : nullptr;
  return a ? a->if_array() : nullptr;
}

std::string first_address(const json::value& endpoint) {
  const auto* addrs = array_at(endpoint, "addresses");
  return addrs && !addrs->empty() && (*addrs)[0].is_string() ? std::string((*addrs)[0].as_string()) : "";
}

std::string primary_family(const json::value& svc) {
  const auto* spec = object_at(svc, {"spec"});
  const auto* families = spec ? spec->if_contains("ipFamilies") : nullptr;
  if (families && families->is_array() && !families->as_array().empty() &&
      families->as_array()[0].is_string())
    return std::string(families->as_array()[0].as_string());
  std::string cluster_ip = string_at(svc, {"spec", "clusterIP"});
  return cluster_ip.find(':') != std::string::npos ? "IPv6" : "IPv4";
}

bool family_allowed(const json::value& svc, const std::string& family) {
  const auto* spec = object_at(svc, {"spec"});
  const auto* families = spec ? spec->if_contains("ipFamilies") : nullptr;
  if (!families || !families->is_array() || families->as_array().empty()) return true;
  for (const auto& f : families->as_array())
    if (f.is_string() && f.as_string() == family) return true;
  return false;
}

std::map<std::string, Group> desired_groups(const json::value& svc, const json::object& selector,
                                            const std::vector<ObjectPtr>& pods) {
  std::map<std::string, Group> groups;
  const auto* spec = object_at(svc, {"spec"});
  const auto* pna = spec ? spec->if_contains("publishNotReadyAddresses") : nullptr;
  bool publish_not_ready = pna && pna->is_bool() && pna->as_bool();
  for (const auto& pod : pods) {
    if (!matches(selector, *pod)) continue;
    std::string phase = string_at(*pod, {"status", "phase"});
    if (phase == "Succeeded" || phase == "Failed") continue;
    auto ips = pod_ips(*pod);
    if (ips.empty()) continue;
    bool ready = pod_ready(*pod);
    bool terminating = object_at(*pod, {"metadata"})->contains("deletionTimestamp");
    json::array ports = endpoint_ports(svc, *pod);
    for (const auto& ip : ips) {
      auto parsed = parse_ip(ip);
      if (!parsed) continue;
      std::string family = parsed->is_v4() ? "IPv4" : "IPv6";
      if (!family_allowed(svc, family)) continue;
      json::object endpoint{{"addresses", json::array{json::value(parsed->to_string())}},
                            {"conditions",
                             {{"ready", publish_not_ready || (ready && !terminating)},
                              {"serving", ready},
                              {"terminating", terminating}}}};
      if (std::string node = string_at(*pod, {"spec", "nodeName"}); !node.empty())
        endpoint["nodeName"] = node;
      endpoint["targetRef"] = json::object{{"kind", "Pod"},
                                           {"namespace", namespace_of(*pod)},
                                           {"name", name_of(*pod)},
                                           {"uid", string_at(*pod, {"metadata", "uid"})}};
      Group& g = groups[group_key(family, ports)];
      g.address_type = family;
      g.ports = ports;
      g.endpoints[parsed->to_string()] = std::move(endpoint);
    }
  }
  return groups;
}

bool owned_by(const json::value& slice, const std::string& uid) {
  const auto* meta = object_at(slice, {"metadata"});
  const auto* refs = meta ? meta->if_contains("ownerReferences") : nullptr;
  if (!refs || !refs->is_array()) return false;
  for (const auto& r : refs->as_array())
    if (string_at(r, {"kind"}) == "Service" && string_at(r, {"uid"}) == uid) return true;
  return false;
}

bool managed(const json::value& slice) {
  return string_at(slice, {"metadata", "labels", kManagedByLabel}) == kManagedByValue &&
         !string_at(slice, {"metadata", "labels", kServiceNameLabel}).empty();
}

// A slice being written: the stored object (null for a new one) and its endpoints from now on.
struct SlicePlan {
  ObjectPtr existing;
  json::array endpoints;
  bool changed = false;
};

}  // namespace

EndpointSliceController::EndpointSliceController(Cache& services, Cache& pods, Cache& slices, Clock clock,
                                                 size_t max_endpoints_per_slice)
    : Controller("endpointslice", std::move(clock)),
      services_(services),
      pods_(pods),
      slices_(slices),
      max_endpoints_(max_endpoints_per_slice) {
  services_.add_handler([this](Change, const ObjectPtr& svc, const ObjectPtr&) { enqueue(key_of(*svc)); });
  pods_.add_handler([this](Change, const ObjectPtr& pod, const ObjectPtr& old) { on_pod(pod, old); });
  // Slices changed or deleted by someone else are put back.
  slices_.add_handler([this](Change, const ObjectPtr& slice, const ObjectPtr&) {
    if (managed(*slice))
      enqueue(namespace_of(*slice) + "/" + string_at(*slice, {"metadata", "labels", kServiceNameLabel}));
  });
}

void EndpointSliceController::on_pod(const ObjectPtr& pod, const ObjectPtr& old) {
  for (const auto& svc : services_.list(namespace_of(*pod))) {
    const json::object* selector = selector_of(*svc);
    if (selector && (matches(*selector, *pod) || (old && matches(*selector, *old)))) enqueue(key_of(*svc));
  }
}

void EndpointSliceController::resync() {
  for (const auto& svc : services_.list()) enqueue(key_of(*svc));
  // Slices whose service went away while we were not running.
  for (const auto& slice : slices_.list())
    if (managed(*slice))
      enqueue(namespace_of(*slice) + "/" + string_at(*slice, {"metadata", "labels", kServiceNameLabel}));
}

void EndpointSliceController::wrote(const std::string& service_key, const json::value& result) {
  std::lock_guard lock(mu_);
  // Writes of one service are made one after the other by the one worker: the last is the newest.
  last_write_[service_key].resource_version = string_at(result, {"metadata", "resourceVersion"});
}

void EndpointSliceController::deleted(const std::string& service_key, const std::string& slice_key) {
  std::lock_guard lock(mu_);
  last_write_[service_key].deleted.push_back(slice_key);
}

Outcome EndpointSliceController::reconcile(const std::string& key) {
  Written last;
  {
    std::lock_guard lock(mu_);
    if (auto it = last_write_.find(key); it != last_write_.end()) last = it->second;
  }
  if (!last.resource_version.empty() &&
      !slices_.wait_for_revision(last.resource_version, std::chrono::seconds(1)))
    return Outcome::kRetry;
  if (!last.deleted.empty()) {
    if (!slices_.wait_gone(last.deleted, std::chrono::seconds(1))) return Outcome::kRetry;
    std::lock_guard lock(mu_);
    if (auto it = last_write_.find(key); it != last_write_.end()) it->second.deleted.clear();
  }

  auto [ns, name] = split_key(key);
  ObjectPtr svc = services_.get(key);
  std::vector<ObjectPtr> existing;
  for (const auto& slice : slices_.list(ns))
    if (managed(*slice) && string_at(*slice, {"metadata", "labels", kServiceNameLabel}) == name)
      existing.push_back(slice);

  k8s::ApiClient& client = slices_.client();
  bool failed = false;
  std::vector<ObjectPtr> stale;
  auto remove = [&](const ObjectPtr& slice) {
    auto r = client.remove(slices_.object_path(ns, name_of(*slice)));
    if (r)
      deleted(key, ns + "/" + name_of(*slice));
    else if (!k8s::is_not_found(r.error()))
      failed = true,
      spdlog::warn("endpointslice: delete {}/{}: {}", ns, name_of(*slice), r.error().message());
  };

  if (!svc) {
    for (const auto& slice : existing) remove(slice);
    if (!failed) {
      std::lock_guard lock(mu_);
      last_write_.erase(key);
    }
    return failed ? Outcome::kRetry : Outcome::kDone;
  }
  const json::object* selector = selector_of(*svc);
  if (!selector) return Outcome::kDone;  // endpoints of such services are someone else's business
  std::string uid = string_at(*svc, {"metadata", "uid"});

  auto groups = desired_groups(*svc, *selector, pods_.list(ns));
  std::map<std::string, std::vector<ObjectPtr>> by_group;
  for (const auto& slice : existing) {
    if (!owned_by(*slice, uid)) {
      stale.push_back(slice);  // left from an earlier service of the same name
      continue;
    }
    const json::array* ports = array_at(*slice, "ports");
    by_group[group_key(string_at(*slice, {"addressType"}),
                       ports ? json::value(*ports) : json::value(json::array{}))]
        .push_back(slice);
  }
  if (groups.empty()) {
    // kube keeps one empty slice for a service without endpoints, so "no endpoints" is visible.
    Group placeholder{primary_family(*svc), {}, {}};
    groups[group_key(placeholder.address_type, placeholder.ports)] = std::move(placeholder);
  }
  for (const auto& [gk, slices] : by_group)
    if (!groups.contains(gk))
      for (const auto& slice : slices) stale.push_back(slice);

  for (auto& [gk, group] : groups) {
    std::vector<SlicePlan> plans;
    std::set<std::string> placed;
    for (const auto& slice : by_group[gk]) {
      SlicePlan plan{slice, {}, false};
      const json::array* old_eps = array_at(*slice, "endpoints");
      if (old_eps) {
        for (const auto& ep : *old_eps) {
          std::string addr = first_address(ep);
          auto want = group.endpoints.find(addr);
          if (want == group.endpoints.end() || placed.contains(addr) ||
              plan.endpoints.size() >= max_endpoints_)
            continue;
          placed.insert(addr);
          plan.endpoints.push_back(want->second);
        }
      }
      plan.changed = !old_eps ? true : json::value(plan.endpoints) != json::value(*old_eps);
      plans.push_back(std::move(plan));
    }
    std::vector<json::value> remaining;
    for (const auto& [addr, ep] : group.endpoints)
      if (!placed.contains(addr)) remaining.push_back(ep);
    size_t next = 0;
    // Slices that are written anyway take new endpoints first, then any slice with room.
    for (bool changed_only : {true, false})
      for (auto& plan : plans) {
        if (changed_only && !plan.changed) continue;
        while (next < remaining.size() && plan.endpoints.size() < max_endpoints_) {
          plan.endpoints.push_back(remaining[next++]);
          plan.changed = true;
        }
      }
    while (next < remaining.size()) {
      SlicePlan plan{nullptr, {}, true};
      while (next < remaining.size() && plan.endpoints.size() < max_endpoints_)
        plan.endpoints.push_back(remaining[next++]);
      plans.push_back(std::move(plan));
    }
    if (plans.empty()) plans.push_back(SlicePlan{nullptr, {}, true});  // the placeholder

    bool kept_one = false;
    for (auto& plan : plans) {
      bool empty = plan.endpoints.empty();
      // Emptied slices go, except one when the whole group is empty (the placeholder).
      if (empty && (kept_one || !group.endpoints.empty())) {
        if (plan.existing) stale.push_back(plan.existing);
        continue;
      }
      kept_one = true;
      if (!plan.changed) continue;
      if (plan.existing) {
        std::string slice_name = name_of(*plan.existing);
        json::value slice = *plan.existing;
        slice.as_object()["endpoints"] = std::move(plan.endpoints);
        auto r = client.update(slices_.object_path(ns, slice_name), std::move(slice));
        if (r) {
          wrote(key, *r);
        } else {
          failed = true;  // a 409 means the cache is behind: the retry sees the newer slice
          if (!k8s::is_conflict(r.error()))
            spdlog::warn("endpointslice: update {}/{}: {}", ns, slice_name, r.error().message());
        }
        continue;
      }
      json::object slice{{"apiVersion", "discovery.k8s.io/v1"},
                         {"kind", "EndpointSlice"},
                         {"metadata",
                          {{"generateName", name + "-"},
                           {"namespace", ns},
                           {"labels", {{kServiceNameLabel, name}, {kManagedByLabel, kManagedByValue}}},
                           {"ownerReferences", json::array{json::object{{"apiVersion", "v1"},
                                                                        {"kind", "Service"},
                                                                        {"name", name},
                                                                        {"uid", uid},
                                                                        {"controller", true},
                                                                        {"blockOwnerDeletion", true}}}}}},
                         {"addressType", group.address_type},
                         {"endpoints", std::move(plan.endpoints)},
                         {"ports", group.ports}};
      auto r = client.create(slices_.collection_path(ns), std::move(slice));
      if (r)
        wrote(key, *r);
      else
        failed = true, spdlog::warn("endpointslice: create for {}: {}", key, r.error().message());
    }
  }
  // Deleted last and only when the rest went through, so a consumer never sees the service without
  // endpoints between the removal of an old slice and the creation of its replacement.
  if (!failed)
    for (const auto& slice : stale) remove(slice);
  return failed ? Outcome::kRetry : Outcome::kDone;
}

}  // namespace podnet::controllers
