// The cells of each kind's Table row: kube's printers (pkg/printers/internalversion) for the kinds
// podnet serves, so `kubectl get` reads the same; priority-1 columns are what `-o wide` adds.
#include "apiserver/endpoints/table_printers.h"

#include <boost/json.hpp>
#include <cctype>

#include "apiserver/endpoints/table.h"
#include "apiserver/registry/strategy.h"
#include "common/time.h"
#include "k8s/json_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;
using k8s::fields::at;
namespace {

const std::vector<TableColumn> kNameAgeColumns = {
    {"Name", "string", "name", 0, "Name must be unique within a namespace."},
    {"Age", "string", "", 0, "Time since the object was created."}};

std::string text(const json::value& v, k8s::fields::Path path, std::string fallback = "") {
  const json::value* x = at(v, path);
  if (!x) return fallback;
  if (x->is_string()) return x->get_string().empty() ? fallback : std::string(x->get_string());
  if (x->is_int64()) return std::to_string(x->get_int64());
  return fallback;
}

// An absent list reads as an empty one, so rows iterate without a check.
const json::array& list_at(const json::value& v, k8s::fields::Path path) {
  static const json::array kEmpty;
  const json::array* x = k8s::fields::array_at(v, path);
  return x ? *x : kEmpty;
}

std::string since(const std::string& ts, std::chrono::system_clock::time_point now) {
  auto created = parse_rfc3339(ts);
  if (!created) return "<unknown>";
  return human_duration(std::chrono::duration_cast<std::chrono::seconds>(now - *created));
}

std::string age(const json::value& obj, std::chrono::system_clock::time_point now) {
  return since(text(obj, {"metadata", "creationTimestamp"}), now);
}

std::string join(const std::vector<std::string>& parts, const char* sep, const char* empty = "<none>") {
  if (parts.empty()) return empty;
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

json::array pod_cells(const json::value& p, std::chrono::system_clock::time_point now) {
  const auto& containers = list_at(p, {"spec", "containers"});
  const auto& statuses = list_at(p, {"status", "containerStatuses"});
  int ready = 0;
  int64_t restarts = 0;
  std::string reason = text(p, {"status", "reason"}, text(p, {"status", "phase"}, "Unknown"));
  for (const auto& s : statuses) {
    if (const auto* r = at(s, {"ready"}); r && r->is_bool() && r->get_bool()) ++ready;
    if (const auto* n = at(s, {"restartCount"}); n && n->is_int64()) restarts += n->get_int64();
    if (std::string w = text(s, {"state", "waiting", "reason"}); !w.empty()) reason = w;
  }
  if (at(p, {"metadata", "deletionTimestamp"})) reason = "Terminating";
  return {text(p, {"metadata", "name"}),
          std::to_string(ready) + "/" + std::to_string(containers.size()),
          reason,
          std::to_string(restarts),
          age(p, now),
          text(p, {"status", "podIP"}, "<none>"),
          text(p, {"spec", "nodeName"}, "<none>"),
          text(p, {"status", "nominatedNodeName"}, "<none>"),
          "<none>"};
}

json::array service_cells(const json::value& s, std::chrono::system_clock::time_point now) {
  std::string type = text(s, {"spec", "type"}, "ClusterIP");
  std::vector<std::string> external;
  for (const auto& ip : list_at(s, {"spec", "externalIPs"}))
    if (ip.is_string()) external.emplace_back(ip.get_string());
  for (const auto& ing : list_at(s, {"status", "loadBalancer", "ingress"})) {
    std::string ip = text(ing, {"ip"}, text(ing, {"hostname"}));
    if (!ip.empty()) external.push_back(ip);
  }
  std::string external_text = join(external, ",");
  if (type == "LoadBalancer" && external.empty()) external_text = "<pending>";
  if (type == "ExternalName") external_text = text(s, {"spec", "externalName"}, "<none>");
  std::vector<std::string> ports;
  for (const auto& p : list_at(s, {"spec", "ports"})) {
    std::string port = text(p, {"port"});
    if (std::string np = text(p, {"nodePort"}); !np.empty()) port += ":" + np;
    ports.push_back(port + "/" + text(p, {"protocol"}, "TCP"));
  }
  std::vector<std::string> selector;
  if (const auto* sel = at(s, {"spec", "selector"}); sel && sel->is_object())
    for (const auto& [k, v] : sel->get_object())
      if (v.is_string()) selector.push_back(std::string(k) + "=" + std::string(v.get_string()));
  return {text(s, {"metadata", "name"}),
          type,
          text(s, {"spec", "clusterIP"}, "<none>"),
          external_text,
          join(ports, ","),
          age(s, now),
          join(selector, ",")};
}

json::array node_cells(const json::value& n, std::chrono::system_clock::time_point now) {
  std::string status = "Unknown";
  for (const auto& c : list_at(n, {"status", "conditions"}))
    if (text(c, {"type"}) == "Ready") status = text(c, {"status"}) == "True" ? "Ready" : "NotReady";
  if (const auto* u = at(n, {"spec", "unschedulable"}); u && u->is_bool() && u->get_bool())
    status += ",SchedulingDisabled";
  std::vector<std::string> roles;
  if (const auto* labels = at(n, {"metadata", "labels"}); labels && labels->is_object())
    for (const auto& [k, v] : labels->get_object()) {
      std::string_view key = k;
      if (key.starts_with("node-role.kubernetes.io/")) roles.emplace_back(key.substr(24));
    }
  std::string internal, external;
  for (const auto& a : list_at(n, {"status", "addresses"})) {
    if (text(a, {"type"}) == "InternalIP" && internal.empty()) internal = text(a, {"address"});
    if (text(a, {"type"}) == "ExternalIP" && external.empty()) external = text(a, {"address"});
  }
  return {text(n, {"metadata", "name"}),
          status,
          join(roles, ","),
          age(n, now),
          text(n, {"status", "nodeInfo", "kubeletVersion"}, ""),
          internal.empty() ? "<none>" : internal,
          external.empty() ? "<none>" : external,
          text(n, {"status", "nodeInfo", "osImage"}, "<unknown>"),
          text(n, {"status", "nodeInfo", "kernelVersion"}, "<unknown>"),
          text(n, {"status", "nodeInfo", "containerRuntimeVersion"}, "<unknown>")};
}

// "80,443" / "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...", as kube prints slices.
json::array endpointslice_cells(const json::value& s, std::chrono::system_clock::time_point now) {
  std::vector<std::string> ports, addresses;
  for (const auto& p : list_at(s, {"ports"})) ports.push_back(text(p, {"port"}, "<unset>"));
  size_t total = 0;
  for (const auto& e : list_at(s, {"endpoints"}))
    for (const auto& a : list_at(e, {"addresses"})) {
      if (addresses.size() < 3 && a.is_string()) addresses.emplace_back(a.get_string());
      ++total;
    }
  std::string endpoints = join(addresses, ",", "<unset>");
  if (total > 3) endpoints += " + " + std::to_string(total - 3) + " more...";
  return {text(s, {"metadata", "name"}), text(s, {"addressType"}), join(ports, ",", "<unset>"), endpoints,
          age(s, now)};
}

std::string selector_text(const json::value* selector) {
  std::vector<std::string> parts;
  if (const auto* labels = selector ? at(*selector, {"matchLabels"}) : nullptr; labels && labels->is_object())
    for (const auto& [k, v] : labels->get_object())
      if (v.is_string()) parts.push_back(std::string(k) + "=" + std::string(v.get_string()));
  for (const auto& expr : selector ? list_at(*selector, {"matchExpressions"}) : list_at(json::value(), {})) {
    std::string op = text(expr, {"operator"});
    std::string key = text(expr, {"key"});
    std::vector<std::string> values;
    for (const auto& v : list_at(expr, {"values"}))
      if (v.is_string()) values.emplace_back(v.get_string());
    if (op == "Exists")
      parts.push_back(key);
    else if (op == "DoesNotExist")
      parts.push_back("!" + key);
    else
      parts.push_back(key + (op == "NotIn" ? " notin (" : " in (") + join(values, ",", "") + ")");
  }
  return join(parts, ",");
}

// kube's translateTimestampSince for metav1.Time and MicroTime alike.
std::string since_any(const json::value& e, k8s::fields::Path path,
                      std::chrono::system_clock::time_point now) {
  auto t = parse_rfc3339(text(e, path));
  if (!t) return "<unknown>";
  return human_duration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
}

std::string trimmed(std::string s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && space(s[i])) ++i;
  return s.substr(i);
}

// kube's printEvent (every column; kubectl shows the priority-0 ones without -o wide).
json::array event_cells(const json::value& e, std::chrono::system_clock::time_point now) {
  std::string first = text(e, {"firstTimestamp"}).empty() ? since_any(e, {"eventTime"}, now)
                                                          : since_any(e, {"firstTimestamp"}, now);
  std::string last = text(e, {"lastTimestamp"}).empty() ? first : since_any(e, {"lastTimestamp"}, now);
  int64_t count = 0;
  if (const json::value* c = at(e, {"count"}); c && c->is_int64()) count = c->get_int64();
  if (const json::value* series = at(e, {"series"}); series && series->is_object()) {
    last = since_any(e, {"series", "lastObservedTime"}, now);
    const json::value* c = at(e, {"series", "count"});
    count = c && c->is_int64() ? c->get_int64() : 0;
  } else if (count == 0) {
    count = 1;  // singleton events of the events.k8s.io API carry no count
  }
  std::string kind = text(e, {"involvedObject", "kind"});
  for (auto& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string name = text(e, {"involvedObject", "name"});
  std::string target = name.empty() ? kind : kind + "/" + name;
  // formatEventSource: component (or reportingComponent), then ", " and host (or reportingInstance).
  std::string component = text(e, {"source", "component"}, text(e, {"reportingComponent"}));
  std::string host = text(e, {"source", "host"}, text(e, {"reportingInstance"}));
  std::string source = host.empty() ? component : component + ", " + host;
  return {last,
          text(e, {"type"}),
          text(e, {"reason"}),
          target,
          text(e, {"involvedObject", "fieldPath"}),
          source,
          trimmed(text(e, {"message"})),
          first,
          count,
          text(e, {"metadata", "name"})};
}

json::array network_policy_cells(const json::value& obj, std::chrono::system_clock::time_point now) {
  return {text(obj, {"metadata", "name"}), selector_text(at(obj, {"spec", "podSelector"})), age(obj, now)};
}

json::array namespace_cells(const json::value& obj, std::chrono::system_clock::time_point now) {
  return {text(obj, {"metadata", "name"}), text(obj, {"status", "phase"}, "Active"), age(obj, now)};
}

json::array name_age_cells(const json::value& obj, std::chrono::system_clock::time_point now) {
  return {text(obj, {"metadata", "name"}), age(obj, now)};
}

const std::vector<TableColumn>& pod_columns() {
  static const std::vector<TableColumn> columns = {
      {"Name", "string", "name", 0, "Name must be unique within a namespace."},
      {"Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."},
      {"Status", "string", "", 0, "The aggregate status of the containers in this pod."},
      {"Restarts", "string", "", 0, "The number of times the containers in this pod have been restarted."},
      {"Age", "string", "", 0, "Time since the object was created."},
      {"IP", "string", "", 1, "IP address allocated to the pod."},
      {"Node", "string", "", 1, "Name of the node the pod is assigned to."},
      {"Nominated Node", "string", "", 1, "Node the scheduler nominated for preemption."},
      {"Readiness Gates", "string", "", 1, "Pod readiness gates."}};
  return columns;
}

const std::vector<TableColumn>& service_columns() {
  static const std::vector<TableColumn> columns = {
      {"Name", "string", "name", 0, "Name must be unique within a namespace."},
      {"Type", "string", "", 0, "How the service is exposed."},
      {"Cluster-IP", "string", "", 0, "The virtual IP of the service."},
      {"External-IP", "string", "", 0, "Addresses outside the cluster that route to the service."},
      {"Port(s)", "string", "", 0, "The ports the service exposes."},
      {"Age", "string", "", 0, "Time since the object was created."},
      {"Selector", "string", "", 1, "Pods with these labels back the service."}};
  return columns;
}

const std::vector<TableColumn>& node_columns() {
  static const std::vector<TableColumn> columns = {
      {"Name", "string", "name", 0, "Name must be unique."},
      {"Status", "string", "", 0, "The status of the node."},
      {"Roles", "string", "", 0, "The roles of the node."},
      {"Age", "string", "", 0, "Time since the object was created."},
      {"Version", "string", "", 0, "Kubelet version."},
      {"Internal-IP", "string", "", 1, "Internal IP of the node."},
      {"External-IP", "string", "", 1, "External IP of the node."},
      {"OS-Image", "string", "", 1, "OS image of the node."},
      {"Kernel-Version", "string", "", 1, "Kernel version of the node."},
      {"Container-Runtime", "string", "", 1, "Container runtime of the node."}};
  return columns;
}

const std::vector<TableColumn>& endpointslice_columns() {
  static const std::vector<TableColumn> columns = {
      {"Name", "string", "name", 0, "Name must be unique within a namespace."},
      {"AddressType", "string", "", 0, "The type of address carried by this EndpointSlice."},
      {"Ports", "string", "", 0, "Network ports exposed by the endpoints."},
      {"Endpoints", "string", "", 0, "Addresses of the endpoints."},
      {"Age", "string", "", 0, "Time since the object was created."}};
  return columns;
}

const std::vector<TableColumn>& network_policy_columns() {
  static const std::vector<TableColumn> columns = {
      {"Name", "string", "name", 0, "Name must be unique within a namespace."},
      {"Pod-Selector", "string", "", 0, "The pods the policy applies to."},
      {"Age", "string", "", 0, "Time since the object was created."}};
  return columns;
}

const std::vector<TableColumn>& event_columns() {
  static const std::vector<TableColumn> columns = {
      {"Last Seen", "string", "", 0, "Time since the event was last seen."},
      {"Type", "string", "", 0, "Type of this event (Normal, Warning)."},
      {"Reason", "string", "", 0, "Why the action was taken, short and machine-readable."},
      {"Object", "string", "", 0, "The object this event is about."},
      {"Subobject", "string", "", 1, "The part of the object the event is about (fieldPath)."},
      {"Source", "string", "", 1, "The component reporting this event."},
      {"Message", "string", "", 0, "A human-readable description of the status of this operation."},
      {"First Seen", "string", "", 1, "Time since the event was first recorded."},
      {"Count", "string", "", 1, "The number of times this event has occurred."},
      {"Name", "string", "name", 1, "Name must be unique within a namespace."}};
  return columns;
}

const std::vector<TableColumn>& namespace_columns() {
  static const std::vector<TableColumn> columns = {
      {"Name", "string", "name", 0, "Name must be unique."},
      {"Status", "string", "", 0, "The status of the namespace."},
      {"Age", "string", "", 0, "Time since the object was created."}};
  return columns;
}

const std::vector<TableColumn>& name_age_columns() {
  return kNameAgeColumns;
}

}  // namespace

namespace printers {
const TablePrinter kPod{pod_columns, pod_cells};
const TablePrinter kService{service_columns, service_cells};
const TablePrinter kNode{node_columns, node_cells};
const TablePrinter kNamespace{namespace_columns, namespace_cells};
const TablePrinter kEndpointSlice{endpointslice_columns, endpointslice_cells};
const TablePrinter kNetworkPolicy{network_policy_columns, network_policy_cells};
const TablePrinter kEvent{event_columns, event_cells};
const TablePrinter kNameAge{name_age_columns, name_age_cells};
}  // namespace printers

const std::vector<TableColumn>& table_columns(const ResourceType& type) {
  return strategy_for(type).printer->columns();
}

json::array table_cells(const ResourceType& type, const json::value& obj,
                        std::chrono::system_clock::time_point now) {
  return strategy_for(type).printer->cells(obj, now);
}

}  // namespace podnet::apiserver
