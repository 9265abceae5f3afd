// Paths and messages are kube's (pkg/apis/core/validation: ValidateNode, ValidateNodeUpdate).
#include "apiserver/validation/node_validation.h"

#include <boost/json.hpp>
#include <set>

#include "apiserver/validation/field_error.h"
#include "apiserver/validation/service_spec.h"
#include "common/ip.h"

namespace podnet::apiserver {
namespace json = boost::json;
using svc::array;
using svc::object;
using svc::str;

namespace {

// podCIDRs: each a CIDR; more than one only as one IPv4 and one IPv6 range, no duplicates.
void validate_pod_cidrs(const std::vector<std::string>& cidrs, std::vector<StatusCause>& out) {
  const std::string path = "spec.podCIDRs";
  std::string all = field::string_slice(cidrs);
  int v4 = 0, v6 = 0;
  bool parsed_all = true;
  for (size_t i = 0; i < cidrs.size(); ++i) {
    auto p = parse_prefix(cidrs[i]);
    if (!p) {
      out.push_back(field::invalid(field::index(path, i), all, "must be valid CIDR"));
      parsed_all = false;
      continue;
    }
    (p->is_v4() ? v4 : v6)++;
  }
  if (cidrs.size() <= 1 || !parsed_all) return;
  if (cidrs.size() > 2 || v4 != 1 || v6 != 1)
    out.push_back(field::invalid(path, all, "may specify no more than one CIDR for each IP family"));
  std::set<std::string> seen;
  for (size_t i = 0; i < cidrs.size(); ++i)
    if (!seen.insert(cidrs[i]).second)
      out.push_back(field::duplicate(field::index(path, i), field::quote(cidrs[i])));
}

// Go's %#v of a core.NodeAddress, as kube prints a duplicate.
std::string go_node_address(const json::object& a) {
  return "core.NodeAddress{Type:" + field::quote(str(a, "type")) +
         ", Address:" + field::quote(str(a, "address")) + "}";
}

void validate_addresses(const json::object& node, std::vector<StatusCause>& out) {
  const json::object* status = object(node, "status");
  const json::array* addresses = status ? array(*status, "addresses") : nullptr;
  if (!addresses) return;
  std::set<std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < addresses->size(); ++i) {
    const json::object* a = (*addresses)[i].if_object();
    if (!a) continue;
    if (!seen.insert({str(*a, "type"), str(*a, "address")}).second)
      out.push_back(field::duplicate(field::index("status.addresses", i), go_node_address(*a)));
  }
}

// podCIDRs is the field; podCIDR mirrors its first entry (kube's v1 conversion does the same).
void sync_pod_cidr(json::object& node) {
  json::value* spec = node.if_contains("spec");
  if (!spec || !spec->is_object()) return;
  json::object& s = spec->get_object();
  auto cidrs = node_pod_cidrs(node);
  if (cidrs.empty()) return;
  s["podCIDR"] = cidrs[0];
  if (!array(s, "podCIDRs") || array(s, "podCIDRs")->empty()) svc::set_strings(s, "podCIDRs", cidrs);
}

}  // namespace

std::vector<std::string> node_pod_cidrs(const json::object& node) {
  const json::object& spec = svc::spec_of(node);
  if (const json::array* list = array(spec, "podCIDRs"); list && !list->empty())
    return svc::strings(spec, "podCIDRs");
  std::string one = str(spec, "podCIDR");
  return one.empty() ? std::vector<std::string>{} : std::vector<std::string>{one};
}

std::vector<StatusCause> validate_node(const json::object* old, const json::object& node) {
  std::vector<StatusCause> out;
  auto cidrs = node_pod_cidrs(node);
  validate_pod_cidrs(cidrs, out);
  if (old) {
    validate_addresses(node, out);
    // The node IPAM controller may give a node a range once; after that it is the node's for good.
    auto before = node_pod_cidrs(*old);
    if (!before.empty() && before != cidrs)
      out.push_back(
          field::forbidden("spec.podCIDRs", "node updates may not change podCIDR except from \"\" to valid"));
  }
  return out;
}

ApiResult<std::unique_ptr<WriteTxn>> NodeValidation::before_write(const json::object* old,
                                                                  json::object& obj) {
  if (auto causes = validate_node(old, obj); !causes.empty()) {
    const json::object* meta = object(obj, "metadata");
    return api_fail(invalid("", "Node", meta ? str(*meta, "name") : "", std::move(causes)));
  }
  sync_pod_cidr(obj);
  return std::unique_ptr<WriteTxn>();
}

}  // namespace podnet::apiserver
