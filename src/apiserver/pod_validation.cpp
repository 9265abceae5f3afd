// Follows validateContainers / validateContainerPorts in pkg/apis/core/validation: names are
// unique across init and regular containers, port names only within one container.
#include "apiserver/pod_validation.h"

#include <boost/json.hpp>
#include <set>

#include "apiserver/field_error.h"
#include "apiserver/service_spec.h"
#include "apiserver/validation.h"

namespace podnet::apiserver {
namespace json = boost::json;
using svc::array;
using svc::as_int;
using svc::str;

namespace {

constexpr const char* kPortRangeMsg = "must be between 1 and 65535, inclusive";

void validate_ports(const json::object& ctr, const std::string& path, std::vector<StatusCause>& out) {
  const json::array* ports = array(ctr, "ports");
  if (!ports) return;
  std::set<std::string> names;
  for (size_t i = 0; i < ports->size(); ++i) {
    std::string p = field::index(path, i);
    const json::object* port = (*ports)[i].if_object();
    if (!port) {
      out.push_back(field::invalid(p, json::serialize((*ports)[i]), "must be an object"));
      continue;
    }
    std::string name = str(*port, "name");
    if (!name.empty()) {
      auto errs = port_name_errors(name);
      for (const auto& msg : errs) out.push_back(field::invalid(p + ".name", field::quote(name), msg));
      if (errs.empty() && !names.insert(name).second)
        out.push_back(field::duplicate(p + ".name", field::quote(name)));
    }
    auto cp = as_int(port->if_contains("containerPort")).value_or(0);
    if (cp == 0)
      out.push_back(field::required(p + ".containerPort"));
    else if (cp < 1 || cp > 65535)
      out.push_back(field::invalid(p + ".containerPort", std::to_string(cp), kPortRangeMsg));
    auto hp = as_int(port->if_contains("hostPort")).value_or(0);
    if (hp != 0 && (hp < 1 || hp > 65535))
      out.push_back(field::invalid(p + ".hostPort", std::to_string(hp), kPortRangeMsg));
    std::string protocol = str(*port, "protocol");
    if (protocol.empty())
      out.push_back(field::required(p + ".protocol"));
    else if (protocol != "TCP" && protocol != "UDP" && protocol != "SCTP")
      out.push_back(field::not_supported(p + ".protocol", field::quote(protocol), {"SCTP", "TCP", "UDP"}));
  }
}

void validate_containers(const json::array* ctrs, const std::string& path, std::set<std::string>& names,
                         std::vector<StatusCause>& out) {
  if (!ctrs) return;
  for (size_t i = 0; i < ctrs->size(); ++i) {
    std::string p = field::index(path, i);
    const json::object* ctr = (*ctrs)[i].if_object();
    if (!ctr) {
      out.push_back(field::invalid(p, json::serialize((*ctrs)[i]), "must be an object"));
      continue;
    }
    std::string name = str(*ctr, "name");
    if (name.empty()) {
      out.push_back(field::required(p + ".name"));
    } else {
      for (const auto& msg : dns1123_label_errors(name))
        out.push_back(field::invalid(p + ".name", field::quote(name), msg));
      if (!names.insert(name).second) out.push_back(field::duplicate(p + ".name", field::quote(name)));
    }
    if (str(*ctr, "image").empty()) out.push_back(field::required(p + ".image"));
    validate_ports(*ctr, p + ".ports", out);
  }
}

void default_ports(json::value* ctrs) {
  if (!ctrs || !ctrs->is_array()) return;
  for (auto& c : ctrs->get_array()) {
    json::value* ports = c.is_object() ? c.get_object().if_contains("ports") : nullptr;
    if (!ports || !ports->is_array()) continue;
    for (auto& p : ports->get_array())
      if (p.is_object() && str(p.get_object(), "protocol").empty()) p.get_object()["protocol"] = "TCP";
  }
}

}  // namespace

void default_pod(json::object& pod) {
  json::value* spec = pod.if_contains("spec");
  if (!spec || !spec->is_object()) return;
  default_ports(spec->get_object().if_contains("containers"));
  default_ports(spec->get_object().if_contains("initContainers"));
}

std::vector<StatusCause> validate_pod(const json::object& pod) {
  std::vector<StatusCause> out;
  const json::object& spec = svc::spec_of(pod);
  const json::array* ctrs = array(spec, "containers");
  std::set<std::string> names;
  if (!ctrs || ctrs->empty()) out.push_back(field::required("spec.containers"));
  validate_containers(ctrs, "spec.containers", names, out);
  validate_containers(array(spec, "initContainers"), "spec.initContainers", names, out);
  return out;
}

ApiResult<std::unique_ptr<WriteTxn>> PodValidation::before_write(const json::object*, json::object& obj) {
  default_pod(obj);
  if (auto causes = validate_pod(obj); !causes.empty()) {
    const json::object* meta = svc::object(obj, "metadata");
    return api_fail(invalid("", "Pod", meta ? str(*meta, "name") : "", std::move(causes)));
  }
  return std::unique_ptr<WriteTxn>();
}

}  // namespace podnet::apiserver
