// The order of a write is kube's: defaults, the update fix-ups, IP family initialisation, then
// validation, then allocation. Every allocation goes through Txn so that a failed or conflicting
// store write gives everything back, and releases of values the old object held wait for commit.
#include "apiserver/registry/service_rest.h"

#include <boost/json.hpp>
#include <map>
#include <set>

#include "apiserver/http/limits.h"
#include "apiserver/validation/field_error.h"
#include "apiserver/validation/service_spec.h"
#include "apiserver/validation/service_validation.h"

namespace podnet::apiserver {
namespace json = boost::json;
using namespace svc;

class ServiceRest::Txn : public WriteTxn {
 public:
  explicit Txn(ServiceRest& rest) : rest_(rest) {}
  ~Txn() override {
    if (done_) return;
    std::lock_guard lock(rest_.mu_);
    revert_locked();
  }
  void commit() override {
    std::lock_guard lock(rest_.mu_);
    done_ = true;
    for (const auto& ip : freed_ips_) rest_.release_ip(ip);
    for (int p : freed_ports_) rest_.ports_.release(p);
  }
  // Gives back what this write took; the caller holds mu_.
  void revert_locked() {
    done_ = true;
    for (const auto& ip : taken_ips_) rest_.release_ip(ip);
    for (int p : taken_ports_) rest_.ports_.release(p);
  }

  std::vector<std::string> taken_ips_, freed_ips_;
  std::vector<int> taken_ports_, freed_ports_;

 private:
  ServiceRest& rest_;
  bool done_ = false;
};

namespace {

std::string family_of(const std::string& ip) {
  auto a = parse_ip(ip);
  if (!a) return "";
  return a->is_v4() ? "IPv4" : "IPv6";
}

std::string other_family(const std::string& f) {
  return f == "IPv4" ? "IPv6" : "IPv4";
}

ApiError invalid_service(const json::object& obj, std::vector<StatusCause> causes) {
  const json::object* meta = object(obj, "metadata");
  return invalid("", "Service", meta ? str(*meta, "name") : "", std::move(causes));
}

ApiError internal(const std::string& what) {
  return internal_error("Internal error occurred: " + what);
}

std::string name_of(const json::object& obj) {
  const json::object* meta = object(obj, "metadata");
  return meta ? str(*meta, "name") : "";
}

}  // namespace

Result<std::unique_ptr<ServiceRest>> ServiceRest::create(const std::string& service_cidr,
                                                         const std::string& node_port_range,
                                                         uint64_t random_seed) {
  std::vector<IpAllocator> ips;
  size_t start = 0;
  while (start <= service_cidr.size()) {
    size_t comma = service_cidr.find(',', start);
    std::string part =
        service_cidr.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    PODNET_TRY(prefix, parse_prefix(part));
    PODNET_TRY(alloc, IpAllocator::create(prefix));
    ips.push_back(std::move(alloc));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (ips.empty() || ips.size() > 2 || (ips.size() == 2 && ips[0].cidr().is_v4() == ips[1].cidr().is_v4()))
    return fail_msg("--service-cidr " + service_cidr + ": want one range, or one IPv4 and one IPv6 range");
  PODNET_TRY(range, parse_port_range(node_port_range));
  return std::unique_ptr<ServiceRest>(new ServiceRest(std::move(ips), PortAllocator(range), random_seed));
}

ServiceRest::ServiceRest(std::vector<IpAllocator> ips, PortAllocator ports, uint64_t seed)
    : ips_(std::move(ips)), ports_(ports), random_(seed) {}

IpAllocator* ServiceRest::allocator_for(const std::string& family) {
  for (auto& a : ips_)
    if (family == a.family()) return &a;
  return nullptr;
}

void ServiceRest::release_ip(const std::string& ip) {
  auto a = parse_ip(ip);
  if (!a) return;
  for (auto& alloc : ips_) alloc.release(*a);
}

bool ServiceRest::ip_allocated(const IpAddress& ip) {
  std::lock_guard lock(mu_);
  for (auto& a : ips_)
    if (a.has(ip)) return true;
  return false;
}
bool ServiceRest::port_allocated(int port) {
  std::lock_guard lock(mu_);
  return ports_.has(port);
}
size_t ServiceRest::ips_used() {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto& a : ips_) n += a.used();
  return n;
}
size_t ServiceRest::ports_used() {
  std::lock_guard lock(mu_);
  return ports_.used();
}

Result<size_t> ServiceRest::rebuild(ObjectStore& objects, const ResourceType& services) {
  size_t conflicts = 0;
  storage::ListOptions options;
  options.limit = 1000;
  std::lock_guard lock(mu_);
  for (;;) {
    auto page = objects.store().list(objects.prefix(services, ""), options);
    if (!page) return fail_msg("list services: " + page.error().str());
    for (const auto& kv : page->items) {
      boost::system::error_code ec;
      json::value v = limits::parse_stored(kv.value, ec);
      if (ec || !v.is_object()) continue;
      const json::object& spec = spec_of(v.get_object());
      for (const auto& ip : strings(spec, "clusterIPs")) {
        auto a = parse_ip(ip);
        if (!a) continue;
        for (auto& alloc : ips_)
          if (alloc.contains(*a) && !alloc.allocate(*a)) ++conflicts;
      }
      std::vector<int> ports = node_ports(spec);
      std::sort(ports.begin(), ports.end());
      ports.erase(std::unique(ports.begin(), ports.end()), ports.end());  // TCP+UDP pairs share one
      if (int64_t hc = integer(spec, "healthCheckNodePort"); hc != 0) ports.push_back(static_cast<int>(hc));
      for (int p : ports)
        if (ports_.range().contains(p) && !ports_.allocate(p)) ++conflicts;
    }
    if (page->continue_token.empty()) break;
    options.continue_token = page->continue_token;
  }
  return conflicts;
}

std::vector<StatusCause> ServiceRest::init_ip_families(const json::object* old_spec, json::object& spec) {
  std::vector<StatusCause> causes;
  if (type_of(spec) == "ExternalName") return causes;
  const json::object* selector = object(spec, "selector");
  bool selectorless = !selector || selector->empty();
  if (str(spec, "ipFamilyPolicy").empty()) {
    if (old_spec && !str(*old_spec, "ipFamilyPolicy").empty())
      spec["ipFamilyPolicy"] = old_spec->at("ipFamilyPolicy");
    else if (str(spec, "clusterIP") == "None" && selectorless)
      spec["ipFamilyPolicy"] = "RequireDualStack";
    else
      spec["ipFamilyPolicy"] = "SingleStack";
  }
  std::string policy = str(spec, "ipFamilyPolicy");
  auto ips = strings(spec, "clusterIPs");
  auto families = strings(spec, "ipFamilies");
  std::string policy_repr = field::quote(policy);
  if (old_spec) {
    auto old_ips = strings(*old_spec, "clusterIPs");
    auto old_families = strings(*old_spec, "ipFamilies");
    if (policy == "SingleStack") {
      if (ips == old_ips && ips.size() > 1) ips.resize(1);
      if (families == old_families && families.size() > 1) families.resize(1);
    } else {
      if (old_ips.size() > ips.size() && !ips.empty())
        causes.push_back(field::invalid("spec.ipFamilyPolicy", policy_repr,
                                        "must be 'SingleStack' to release the secondary cluster IP"));
      if (old_families.size() > families.size() && !families.empty())
        causes.push_back(field::invalid("spec.ipFamilyPolicy", policy_repr,
                                        "must be 'SingleStack' to release the secondary IP family"));
    }
  }
  if (policy == "SingleStack") {
    if (ips.size() == 2)
      causes.push_back(field::invalid(
          "spec.ipFamilyPolicy", policy_repr,
          "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"));
    if (families.size() == 2)
      causes.push_back(field::invalid(
          "spec.ipFamilyPolicy", policy_repr,
          "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"));
  }
  for (size_t i = 0; i < ips.size(); ++i) {
    if (ips[i] == "None") break;
    std::string fam = family_of(ips[i]);
    if (fam.empty()) break;  // validation reports the malformed address
    if (i >= families.size()) {
      if (!allocator_for(fam))
        causes.push_back(field::invalid(field::index("spec.clusterIPs", i), field::string_slice(ips),
                                        fam + " is not configured on this cluster"));
      else
        families.push_back(fam);
    }
  }
  auto store = [&] {
    set_strings(spec, "clusterIPs", ips);
    set_strings(spec, "ipFamilies", families);
  };
  if (!causes.empty()) return causes;
  const std::string default_family = ips_[0].family();
  if (str(spec, "clusterIP") == "None" && selectorless) {
    if (families.empty()) families.push_back(default_family);
    if (families.size() < 2 && policy != "SingleStack") families.push_back(other_family(families[0]));
    store();
    return causes;
  }
  if (policy == "RequireDualStack" && ips_.size() < 2)
    causes.push_back(field::invalid("spec.ipFamilyPolicy", policy_repr,
                                    "this cluster is not configured for dual-stack services"));
  for (size_t i = 0; i < families.size(); ++i)
    if ((families[i] == "IPv4" || families[i] == "IPv6") && !allocator_for(families[i]))
      causes.push_back(field::invalid(field::index("spec.ipFamilies", i), field::quote(families[i]),
                                      "not configured on this cluster"));
  if (!causes.empty()) return causes;
  if (families.empty()) families.push_back(default_family);
  if (policy != "SingleStack" && families.size() == 1 && ips_.size() == 2)
    families.push_back(other_family(families[0]));
  store();
  return causes;
}

// Allocates clusterIPs[first..] (a requested address, or the next free one for an empty slot) for
// each of the service's families. Caller holds mu_.
ApiResult<void> ServiceRest::allocate_cluster_ips(const std::string& name, json::object& spec, size_t first,
                                                  Txn& txn) {
  auto families = strings(spec, "ipFamilies");
  auto ips = strings(spec, "clusterIPs");
  if (!ips.empty() && ips[0] == "None") return {};
  const std::vector<std::string> requested = ips;
  while (ips.size() < families.size()) ips.emplace_back();
  for (size_t i = first; i < families.size(); ++i) {
    IpAllocator* alloc = allocator_for(families[i]);
    if (!alloc) continue;  // init_ip_families refused the object already
    if (ips[i].empty()) {
      auto ip = alloc->allocate_next(random_);
      if (!ip) return api_fail(internal("failed to allocate a serviceIP: " + ip.error()));
      ips[i] = ip->to_string();
    } else {
      auto addr = parse_ip(ips[i]);
      std::expected<void, std::string> ok =
          addr ? alloc->allocate(*addr) : std::unexpected(std::string("invalid IP address"));
      if (!ok) {
        std::vector<StatusCause> causes{
            field::invalid("spec.clusterIPs", field::string_slice(requested),
                           "failed to allocate IP " + ips[i] + ": " + ok.error())};
        return api_fail(invalid("", "Service", name, std::move(causes)));
      }
    }
    txn.taken_ips_.push_back(ips[i]);
  }
  set_strings(spec, "clusterIPs", ips);
  if (!ips.empty()) spec["clusterIP"] = ips[0];
  return {};
}

// initNodePorts (create) and updateNodePorts (update) in one: requested ports are claimed unless the
// old object already held them, zeros get the next free port (shared by ports with the same number
// on create, as kube does for TCP+UDP pairs), and old ports no longer used are released on commit.
ApiResult<void> ServiceRest::allocate_node_ports(const std::string& name, const json::object* old_spec,
                                                 json::object& spec, Txn& txn) {
  std::vector<int> old_ports = old_spec ? node_ports(*old_spec) : std::vector<int>{};
  auto held = [&](int p) { return std::find(old_ports.begin(), old_ports.end(), p) != old_ports.end(); };
  if (old_spec && needs_node_port(*old_spec) && !needs_node_port(spec)) {
    for (int p : old_ports) txn.freed_ports_.push_back(p);
    return {};
  }
  if (!needs_node_port(spec)) return {};
  json::value* ports_v = spec.if_contains("ports");
  if (!ports_v || !ports_v->is_array()) return {};
  json::array& ports = ports_v->get_array();
  std::set<int> claimed;                   // by this write
  std::map<int64_t, int> by_service_port;  // create: port number -> nodePort
  bool allocate = should_allocate_node_ports(spec);
  for (size_t i = 0; i < ports.size(); ++i) {
    if (!ports[i].is_object()) continue;
    json::object& port = ports[i].get_object();
    int np = static_cast<int>(integer(port, "nodePort"));
    int64_t service_port = integer(port, "port");
    if (np == 0 && !allocate) continue;
    if (np == 0 && !old_spec) {
      // A later port with the same number may have asked for a specific nodePort: use that one.
      for (size_t j = i + 1; j < ports.size() && np == 0; ++j)
        if (const json::object* other = ports[j].if_object();
            other && integer(*other, "port") == service_port)
          np = static_cast<int>(integer(*other, "nodePort"));
      if (np == 0)
        if (auto it = by_service_port.find(service_port); it != by_service_port.end()) np = it->second;
      if (np != 0) port["nodePort"] = np;
    }
    if (np != 0) {
      if (held(np) || claimed.contains(np)) continue;
      if (auto ok = ports_.allocate(np); !ok) {
        std::vector<StatusCause> causes{
            field::invalid(field::index("spec.ports", i) + ".nodePort", std::to_string(np), ok.error())};
        return api_fail(invalid("", "Service", name, std::move(causes)));
      }
    } else {
      auto next = ports_.allocate_next(random_);
      if (!next) return api_fail(internal("failed to allocate a nodePort: " + next.error()));
      np = *next;
      port["nodePort"] = np;
    }
    claimed.insert(np);
    txn.taken_ports_.push_back(np);
    by_service_port.emplace(service_port, np);
  }
  std::vector<int> now = node_ports(spec);
  for (int p : old_ports)
    if (std::find(now.begin(), now.end(), p) == now.end()) txn.freed_ports_.push_back(p);
  return {};
}

ApiResult<void> ServiceRest::allocate_health_check(const json::object* old_spec, json::object& spec,
                                                   Txn& txn) {
  bool needed = old_spec && needs_health_check(*old_spec);
  bool needs = needs_health_check(spec);
  if (needed && !needs) {
    if (int64_t old_hc = integer(*old_spec, "healthCheckNodePort"); old_hc != 0)
      txn.freed_ports_.push_back(static_cast<int>(old_hc));
    return {};
  }
  if (!needs || needed) return {};  // needed && needs: immutable, validation checked it
  int64_t hc = integer(spec, "healthCheckNodePort");
  if (hc != 0) {
    if (auto ok = ports_.allocate(static_cast<int>(hc)); !ok)
      return api_fail(internal("failed to allocate requested HealthCheck NodePort " + std::to_string(hc) +
                               ": " + ok.error()));
  } else {
    auto next = ports_.allocate_next(random_);
    if (!next) return api_fail(internal("failed to allocate a HealthCheck NodePort 0: " + next.error()));
    hc = *next;
    spec["healthCheckNodePort"] = hc;
  }
  txn.taken_ports_.push_back(static_cast<int>(hc));
  return {};
}

ApiResult<std::unique_ptr<WriteTxn>> ServiceRest::before_write(const json::object* old, json::object& obj) {
  default_service(obj);
  if (old) {
    patch_allocated_values(*old, obj);
    normalize_cluster_ips(old, obj);
    drop_type_dependent_fields(*old, obj);
  } else {
    normalize_cluster_ips(nullptr, obj);
  }
  json::object& spec = mutable_spec(obj);
  const json::object* old_spec = old ? &spec_of(*old) : nullptr;
  std::string name = name_of(obj);
  std::lock_guard lock(mu_);
  if (auto causes = init_ip_families(old_spec, spec); !causes.empty())
    return api_fail(invalid_service(obj, std::move(causes)));
  if (auto causes = validate_service(obj, old); !causes.empty())
    return api_fail(invalid_service(obj, std::move(causes)));

  auto txn = std::make_unique<Txn>(*this);
  auto result = allocate(name, old_spec, spec, *txn);
  if (!result) {
    txn->revert_locked();  // here: its destructor would take mu_, which this thread holds
    return std::unexpected(result.error());
  }
  return std::unique_ptr<WriteTxn>(std::move(txn));
}

// Caller holds mu_.
ApiResult<void> ServiceRest::allocate(const std::string& name, const json::object* old_spec,
                                      json::object& spec, Txn& txn) {
  if (needs_cluster_ip(spec)) {
    size_t first = 0;
    if (old_spec && needs_cluster_ip(*old_spec)) {
      // Only a dual-stack upgrade adds addresses to a service that has them.
      auto old_families = strings(*old_spec, "ipFamilies");
      auto old_ips = strings(*old_spec, "clusterIPs");
      first = (!old_ips.empty() && old_ips[0] == "None") ? SIZE_MAX : old_families.size();
      if (first != SIZE_MAX && strings(spec, "ipFamilies").size() < old_families.size())
        for (size_t i = 1; i < old_ips.size(); ++i) txn.freed_ips_.push_back(old_ips[i]);  // downgrade
    }
    if (first != SIZE_MAX)
      if (auto r = allocate_cluster_ips(name, spec, first, txn); !r) return r;
  } else if (old_spec && needs_cluster_ip(*old_spec)) {
    for (const auto& ip : strings(*old_spec, "clusterIPs"))
      if (ip != "None") txn.freed_ips_.push_back(ip);
  }
  if (auto r = allocate_node_ports(name, old_spec, spec, txn); !r) return r;
  return allocate_health_check(old_spec, spec, txn);
}

void ServiceRest::after_delete(const json::object& removed) {
  const json::object& spec = spec_of(removed);
  std::lock_guard lock(mu_);
  for (const auto& ip : strings(spec, "clusterIPs"))
    if (ip != "None") release_ip(ip);
  for (int p : node_ports(spec)) ports_.release(p);
  if (int64_t hc = integer(spec, "healthCheckNodePort"); hc != 0) ports_.release(static_cast<int>(hc));
}

}  // namespace podnet::apiserver
