// Follows pkg/apis/core/validation (ValidatePodSpec, validateContainers, validateInitContainers,
// validateProbe, ValidateEnv, validateContainerPorts) and the v1 defaults it runs after
// (SetDefaults_PodSpec, SetDefaults_Probe, SetDefaults_HTTPGetAction): the fields a node acts on,
// with kube's paths, values and messages. Errors are collected in kube's order.
#include "apiserver/validation/pod_validation.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <set>

#include "apiserver/apply/type_check.h"
#include "apiserver/validation/field_error.h"
#include "apiserver/validation/service_spec.h"
#include "k8s/names.h"

namespace podnet::apiserver {
namespace json = boost::json;
using svc::array;
using svc::as_int;
using svc::object;
using svc::str;

namespace {

constexpr const char* kNegative = "must be greater than or equal to 0";
using Causes = std::vector<StatusCause>;

// ---- defaults -----------------------------------------------------------------------------------

json::object* object_member(json::object& o, std::string_view key) {
  json::value* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

void default_int(json::object& o, std::string_view key, int64_t value) {
  if (as_int(o.if_contains(key)).value_or(0) == 0) o[key] = value;
}

void default_string(json::object& o, std::string_view key, std::string_view value) {
  if (str(o, key).empty()) o[key] = value;
}

void default_probe(json::object& ctr, std::string_view key) {
  json::object* probe = object_member(ctr, key);
  if (!probe) return;
  default_int(*probe, "timeoutSeconds", 1);
  default_int(*probe, "periodSeconds", 10);
  default_int(*probe, "successThreshold", 1);
  default_int(*probe, "failureThreshold", 3);
  if (json::object* http = object_member(*probe, "httpGet")) {
    default_string(*http, "path", "/");
    default_string(*http, "scheme", "HTTP");
  }
}

void default_containers(json::object& spec, std::string_view key, bool host_network) {
  json::value* ctrs = spec.if_contains(key);
  if (!ctrs || !ctrs->is_array()) return;
  for (auto& c : ctrs->get_array()) {
    json::object* ctr = c.if_object();
    if (!ctr) continue;
    if (json::value* ports = ctr->if_contains("ports"); ports && ports->is_array())
      for (auto& p : ports->get_array()) {
        json::object* port = p.if_object();
        if (!port) continue;
        default_string(*port, "protocol", "TCP");
        // A host-network pod listens on the node: its host port is its container port.
        if (host_network && as_int(port->if_contains("hostPort")).value_or(0) == 0)
          if (const json::value* cp = port->if_contains("containerPort"); cp && !cp->is_null())
            (*port)["hostPort"] = *cp;
      }
    for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) default_probe(*ctr, probe);
    if (json::value* env = ctr->if_contains("env"); env && env->is_array())
      for (auto& e : env->get_array()) {
        json::object* var = e.if_object();
        json::object* from = var ? object_member(*var, "valueFrom") : nullptr;
        if (json::object* ref = from ? object_member(*from, "fieldRef") : nullptr)
          default_string(*ref, "apiVersion", "v1");
      }
  }
}

// ---- validation ---------------------------------------------------------------------------------

std::string render(int64_t n) {
  return std::to_string(n);
}

void non_negative(const json::object& o, const char* key, const std::string& path, Causes& out) {
  if (auto n = as_int(o.if_contains(key)); n && *n < 0)
    out.push_back(field::invalid(path + "." + key, render(*n), kNegative));
}

// ValidatePortNumOrName: a JSON number is a port number, a string a port name (an absent port is
// the number 0).
void validate_port_num_or_name(const json::value* port, const std::string& path, Causes& out) {
  if (port && port->is_string()) {
    std::string name(port->get_string());
    for (const auto& msg : k8s::port_name_errors(name))
      out.push_back(field::invalid(path, field::quote(name), msg));
    return;
  }
  int64_t n = as_int(port).value_or(0);
  if (!k8s::valid_port_number(n))
    out.push_back(field::invalid(path, render(n), k8s::inclusive_range_error(1, 65535)));
}

constexpr const char* kHeaderRule =
    "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used "
    "for "
    "validation is '[-A-Za-z0-9]+')";

bool http_header_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) return false;
  return true;
}

void validate_handler(const json::object& probe, const std::string& path, Causes& out) {
  int handlers = 0;
  auto one = [&](const char* key) -> const json::object* {
    const json::object* h = object(probe, key);
    if (!h) return nullptr;
    if (handlers++ > 0) {
      out.push_back(field::forbidden(path + "." + key, "may not specify more than 1 handler type"));
      return nullptr;
    }
    return h;
  };
  if (const json::object* exec = one("exec"))
    if (const json::array* cmd = array(*exec, "command"); !cmd || cmd->empty())
      out.push_back(field::required(path + ".exec.command"));
  if (const json::object* http = one("httpGet")) {
    std::string p = path + ".httpGet";
    if (str(*http, "path").empty()) out.push_back(field::required(p + ".path"));
    validate_port_num_or_name(http->if_contains("port"), p + ".port", out);
    std::string scheme = str(*http, "scheme");
    if (scheme != "HTTP" && scheme != "HTTPS")
      out.push_back(field::not_supported(p + ".scheme", field::quote(scheme), {"HTTP", "HTTPS"}));
    if (const json::array* headers = array(*http, "httpHeaders"))
      for (const auto& h : *headers) {
        std::string name = h.is_object() ? str(h.get_object(), "name") : "";
        if (!http_header_name(name))
          out.push_back(field::invalid(p + ".httpHeaders", field::quote(name), kHeaderRule));
      }
  }
  if (const json::object* tcp = one("tcpSocket"))
    validate_port_num_or_name(tcp->if_contains("port"), path + ".tcpSocket.port", out);
  if (const json::object* grpc = one("grpc")) {
    int64_t port = as_int(grpc->if_contains("port")).value_or(0);
    if (!k8s::valid_port_number(port))
      out.push_back(field::invalid(path + ".grpc.port", render(port), k8s::inclusive_range_error(1, 65535)));
  }
  if (handlers == 0) out.push_back(field::required(path, "must specify a handler type"));
}

enum class ProbeKind { kLiveness, kReadiness, kStartup };

void validate_probe(const json::object& ctr, const char* key, ProbeKind kind, const std::string& ctr_path,
                    Causes& out) {
  const json::object* probe = object(ctr, key);
  if (!probe) return;
  std::string path = ctr_path + "." + key;
  validate_handler(*probe, path, out);
  for (const char* f :
       {"initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"})
    non_negative(*probe, f, path, out);
  auto grace = as_int(probe->if_contains("terminationGracePeriodSeconds"));
  if (grace && *grace <= 0)
    out.push_back(
        field::invalid(path + ".terminationGracePeriodSeconds", render(*grace), "must be greater than 0"));
  if (kind == ProbeKind::kReadiness && grace)
    out.push_back(field::invalid(path + ".terminationGracePeriodSeconds", render(*grace),
                                 "must not be set for readinessProbes"));
  if (kind != ProbeKind::kReadiness)
    if (int64_t s = as_int(probe->if_contains("successThreshold")).value_or(0); s != 1)
      out.push_back(field::invalid(path + ".successThreshold", render(s), "must be 1"));
}

// ConvertDownwardAPIFieldLabel's labels, and of those the ones an env var may name.
const std::set<std::string, std::less<>> kConvertible = {
    "metadata.annotations", "metadata.labels", "metadata.name",      "metadata.namespace",
    "metadata.uid",         "spec.nodeName",   "spec.restartPolicy", "spec.serviceAccountName",
    "spec.schedulerName",   "status.phase",    "status.hostIP",      "status.hostIPs",
    "status.podIP",         "status.podIPs"};
const std::vector<std::string> kEnvFieldPaths = {
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
    "status.hostIP", "status.hostIPs",     "status.podIP", "status.podIPs"};

void validate_field_ref(const json::object& ref, const std::string& path, Causes& out) {
  std::string version = str(ref, "apiVersion"), field_path = str(ref, "fieldPath");
  if (version.empty()) return out.push_back(field::required(path + ".apiVersion"));
  if (field_path.empty()) return out.push_back(field::required(path + ".fieldPath"));
  auto conversion_error = [&](const std::string& why) {
    out.push_back(
        field::invalid(path + ".fieldPath", field::quote(field_path), "error converting fieldPath: " + why));
  };
  if (version != "v1") return conversion_error("unsupported pod version: " + version);
  // metadata.labels['key'] and metadata.annotations['key'].
  if (field_path.ends_with("']")) {
    auto open = field_path.find("['");
    if (open != std::string::npos && open > 0) {
      std::string base = field_path.substr(0, open);
      if (base != "metadata.labels" && base != "metadata.annotations")
        conversion_error("field label does not support subscript: " + field_path);
      return;
    }
  }
  std::string label = field_path == "spec.host" ? "spec.nodeName" : field_path;
  if (!kConvertible.contains(label) && field_path != "spec.host")
    return conversion_error("field label not supported: " + field_path);
  if (std::find(kEnvFieldPaths.begin(), kEnvFieldPaths.end(), label) == kEnvFieldPaths.end())
    out.push_back(field::not_supported(path + ".fieldPath", field::quote(label), kEnvFieldPaths));
}

void validate_key_ref(const json::value& ref, const std::string& path, Causes& out) {
  const json::object* o = ref.if_object();
  if (!o) return;
  if (str(*o, "name").empty()) out.push_back(field::required(path + ".name"));
  if (str(*o, "key").empty()) out.push_back(field::required(path + ".key"));
}

void validate_env(const json::object& ctr, const std::string& ctr_path, Causes& out) {
  const json::array* env = array(ctr, "env");
  if (!env) return;
  for (size_t i = 0; i < env->size(); ++i) {
    std::string p = field::index(ctr_path + ".env", i);
    const json::object* var = (*env)[i].if_object();
    if (!var) continue;
    std::string name = str(*var, "name");
    if (name.empty())
      out.push_back(field::required(p + ".name"));
    else
      for (const auto& msg : k8s::env_var_name_errors(name))
        out.push_back(field::invalid(p + ".name", field::quote(name), msg));
    const json::object* from = object(*var, "valueFrom");
    if (!from) continue;
    std::string fp = p + ".valueFrom";
    int sources = 0;
    if (const json::object* ref = object(*from, "fieldRef"))
      ++sources, validate_field_ref(*ref, fp + ".fieldRef", out);
    if (const json::object* res = object(*from, "resourceFieldRef")) {
      ++sources;
      if (str(*res, "resource").empty()) out.push_back(field::required(fp + ".resourceFieldRef.resource"));
    }
    for (const char* key : {"configMapKeyRef", "secretKeyRef"})
      if (const json::value* ref = from->if_contains(key); ref && !ref->is_null())
        ++sources, validate_key_ref(*ref, fp + "." + key, out);
    if (sources == 0)
      out.push_back(
          field::invalid(fp, "\"\"",
                         "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                         "`secretKeyRef`"));
    else if (!str(*var, "value").empty())
      out.push_back(field::invalid(fp, "\"\"", "may not be specified when `value` is not empty"));
    else if (sources > 1)
      out.push_back(field::invalid(fp, "\"\"", "may not have more than one field specified at a time"));
  }
}

void validate_ports(const json::object& ctr, const std::string& path, Causes& out) {
  const json::array* ports = array(ctr, "ports");
  if (!ports) return;
  std::set<std::string> names;
  for (size_t i = 0; i < ports->size(); ++i) {
    std::string p = field::index(path, i);
    const json::object* port = (*ports)[i].if_object();
    if (!port) continue;
    std::string name = str(*port, "name");
    if (!name.empty()) {
      auto errs = k8s::port_name_errors(name);
      for (const auto& msg : errs) out.push_back(field::invalid(p + ".name", field::quote(name), msg));
      if (errs.empty() && !names.insert(name).second)
        out.push_back(field::duplicate(p + ".name", field::quote(name)));
    }
    auto cp = as_int(port->if_contains("containerPort")).value_or(0);
    if (cp == 0)
      out.push_back(field::required(p + ".containerPort"));
    else if (!k8s::valid_port_number(cp))
      out.push_back(field::invalid(p + ".containerPort", render(cp), k8s::inclusive_range_error(1, 65535)));
    auto hp = as_int(port->if_contains("hostPort")).value_or(0);
    if (hp != 0 && !k8s::valid_port_number(hp))
      out.push_back(field::invalid(p + ".hostPort", render(hp), k8s::inclusive_range_error(1, 65535)));
    std::string protocol = str(*port, "protocol");
    if (protocol.empty())
      out.push_back(field::required(p + ".protocol"));
    else if (protocol != "TCP" && protocol != "UDP" && protocol != "SCTP")
      out.push_back(field::not_supported(p + ".protocol", field::quote(protocol), {"SCTP", "TCP", "UDP"}));
  }
}

// validateContainerCommon: what regular and init containers share.
void validate_container_common(const json::object& ctr, const std::string& p, Causes& out) {
  std::string name = str(ctr, "name");
  if (name.empty())
    out.push_back(field::required(p + ".name"));
  else
    for (const auto& msg : k8s::dns1123_label_errors(name))
      out.push_back(field::invalid(p + ".name", field::quote(name), msg));
  std::string image = str(ctr, "image");
  if (image.empty()) out.push_back(field::required(p + ".image"));
  validate_ports(ctr, p + ".ports", out);
  validate_env(ctr, p, out);
}

// checkHostPortConflicts: "<protocol>/<hostIP>/<hostPort>" at most once among `ctrs`.
void check_host_ports(const json::array& ctrs, size_t first, size_t last, const std::string& path,
                      Causes& out) {
  std::set<std::string> seen;
  for (size_t i = first; i < last; ++i) {
    const json::object* ctr = ctrs[i].if_object();
    const json::array* ports = ctr ? array(*ctr, "ports") : nullptr;
    if (!ports) continue;
    for (size_t j = 0; j < ports->size(); ++j) {
      const json::object* port = (*ports)[j].if_object();
      int64_t hp = port ? as_int(port->if_contains("hostPort")).value_or(0) : 0;
      if (hp == 0) continue;
      std::string key = str(*port, "protocol") + "/" + str(*port, "hostIP") + "/" + render(hp);
      if (!seen.insert(key).second)
        out.push_back(field::duplicate(field::index(field::index(path, i) + ".ports", j) + ".hostPort",
                                       field::quote(key)));
    }
  }
}

void validate_containers(const json::array* ctrs, Causes& out) {
  const std::string path = "spec.containers";
  if (!ctrs || ctrs->empty()) return out.push_back(field::required(path));
  std::set<std::string> names;
  for (size_t i = 0; i < ctrs->size(); ++i) {
    std::string p = field::index(path, i);
    const json::object* ctr = (*ctrs)[i].if_object();
    if (!ctr) continue;
    validate_container_common(*ctr, p, out);
    if (std::string name = str(*ctr, "name"); !names.insert(name).second)
      out.push_back(field::duplicate(p + ".name", field::quote(name)));
    validate_probe(*ctr, "livenessProbe", ProbeKind::kLiveness, p, out);
    validate_probe(*ctr, "readinessProbe", ProbeKind::kReadiness, p, out);
    validate_probe(*ctr, "startupProbe", ProbeKind::kStartup, p, out);
    if (const json::value* rp = ctr->if_contains("restartPolicy"); rp && !rp->is_null())
      out.push_back(field::forbidden(p + ".restartPolicy", "may not be set for non-init containers"));
  }
  check_host_ports(*ctrs, 0, ctrs->size(), path, out);
}

void validate_init_containers(const json::array* inits, const json::array* regular, Causes& out) {
  if (!inits) return;
  const std::string path = "spec.initContainers";
  std::set<std::string> names;
  if (regular)
    for (const auto& c : *regular)
      if (c.is_object()) names.insert(str(c.get_object(), "name"));
  for (size_t i = 0; i < inits->size(); ++i) {
    std::string p = field::index(path, i);
    const json::object* ctr = (*inits)[i].if_object();
    if (!ctr) continue;
    validate_container_common(*ctr, p, out);
    bool sidecar = false;
    if (const json::value* rp = ctr->if_contains("restartPolicy"); rp && !rp->is_null()) {
      std::string policy = rp->is_string() ? std::string(rp->get_string()) : "";
      sidecar = policy == "Always";
      if (!sidecar)
        out.push_back(field::not_supported(p + ".restartPolicy", field::quote(policy), {"Always"}));
    }
    std::string name = str(*ctr, "name");
    if (names.contains(name))
      out.push_back(field::duplicate(p + ".name", field::quote(name)));
    else if (!name.empty())
      names.insert(name);
    check_host_ports(*inits, i, i + 1, path, out);
    if (sidecar) {
      validate_probe(*ctr, "livenessProbe", ProbeKind::kLiveness, p, out);
      validate_probe(*ctr, "readinessProbe", ProbeKind::kReadiness, p, out);
      validate_probe(*ctr, "startupProbe", ProbeKind::kStartup, p, out);
      continue;
    }
    for (const char* key : {"lifecycle", "livenessProbe", "readinessProbe", "startupProbe"})
      if (const json::value* v = ctr->if_contains(key); v && !v->is_null())
        out.push_back(field::forbidden(p + "." + key,
                                       "may not be set for init containers without restartPolicy=Always"));
  }
}

// validatePodHostNetworkDeps: on the node's network a container port is its host port.
void validate_host_network(const json::object& spec, Causes& out) {
  const json::value* hn = spec.if_contains("hostNetwork");
  const json::array* ctrs = array(spec, "containers");
  if (!hn || !hn->is_bool() || !hn->get_bool() || !ctrs) return;
  for (size_t i = 0; i < ctrs->size(); ++i) {
    const json::object* ctr = (*ctrs)[i].if_object();
    const json::array* ports = ctr ? array(*ctr, "ports") : nullptr;
    if (!ports) continue;
    for (size_t j = 0; j < ports->size(); ++j) {
      const json::object* port = (*ports)[j].if_object();
      if (!port) continue;
      int64_t hp = as_int(port->if_contains("hostPort")).value_or(0);
      if (hp != as_int(port->if_contains("containerPort")).value_or(0))
        out.push_back(
            field::invalid(field::index(field::index("spec.containers", i) + ".ports", j) + ".hostPort",
                           render(hp), "must match `containerPort` when `hostNetwork` is true"));
    }
  }
}

}  // namespace

void default_pod(json::object& pod) {
  json::value* spec_value = pod.if_contains("spec");
  json::object* spec = spec_value ? spec_value->if_object() : nullptr;
  if (!spec) return;
  const json::value* hn = spec->if_contains("hostNetwork");
  bool host_network = hn && hn->is_bool() && hn->get_bool();
  default_containers(*spec, "containers", host_network);
  default_containers(*spec, "initContainers", host_network);
  default_string(*spec, "restartPolicy", "Always");
  if (const json::value* g = spec->if_contains("terminationGracePeriodSeconds"); !g || g->is_null())
    (*spec)["terminationGracePeriodSeconds"] = 30;
}

std::vector<StatusCause> validate_pod(const json::object& pod) {
  Causes out;
  const json::object& spec = svc::spec_of(pod);
  const json::array* ctrs = array(spec, "containers");
  validate_containers(ctrs, out);
  validate_init_containers(array(spec, "initContainers"), ctrs, out);
  validate_host_network(spec, out);
  std::string policy = str(spec, "restartPolicy");
  if (policy.empty())
    out.push_back(field::required("spec.restartPolicy"));
  else if (policy != "Always" && policy != "OnFailure" && policy != "Never")
    out.push_back(
        field::not_supported("spec.restartPolicy", field::quote(policy), {"Always", "OnFailure", "Never"}));
  if (std::string node = str(spec, "nodeName"); !node.empty())
    for (const auto& msg : k8s::dns1123_subdomain_errors(node))
      out.push_back(field::invalid("spec.nodeName", field::quote(node), msg));
  return out;
}

ApiResult<std::unique_ptr<WriteTxn>> PodValidation::before_write(const json::object* old, json::object& obj) {
  // A write that leaves the spec alone (status, labels) is not held to rules the stored spec
  // predates, as kube validates updates with the options the old pod allows.
  if (old && json::value(svc::spec_of(*old)) == json::value(svc::spec_of(obj)))
    return std::unique_ptr<WriteTxn>();
  if (auto misfit = first_type_error(obj, "Pod"))
    return api_fail(bad_request("Pod in version \"v1\" cannot be handled as a Pod: " + *misfit));
  default_pod(obj);
  if (auto causes = validate_pod(obj); !causes.empty()) {
    const json::object* meta = object(obj, "metadata");
    return api_fail(invalid("", "Pod", meta ? str(*meta, "name") : "", std::move(causes)));
  }
  return std::unique_ptr<WriteTxn>();
}

}  // namespace podnet::apiserver
