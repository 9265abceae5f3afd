#include "runtime/pod_spec.h"

#include <boost/json.hpp>

namespace podnet::runtime {
namespace json = boost::json;
namespace {

const json::value* at(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* cur = &v;
  for (const char* p : path) {
    const auto* o = cur->if_object();
    cur = o ? o->if_contains(p) : nullptr;
    if (!cur) return nullptr;
  }
  return cur;
}

std::string str(const json::value& v, std::initializer_list<const char*> path) {
  const auto* p = at(v, path);
  return p && p->is_string() ? std::string(p->get_string()) : std::string();
}

std::optional<int64_t> num(const json::value& v, std::initializer_list<const char*> path) {
  const auto* p = at(v, path);
  if (!p) return std::nullopt;
  if (p->is_int64()) return p->get_int64();
  if (p->is_uint64()) return static_cast<int64_t>(p->get_uint64());
  return std::nullopt;
}

std::vector<std::string> strings(const json::value& v, const char* key) {
  std::vector<std::string> out;
  if (const auto* a = at(v, {key}); a && a->is_array())
    for (const auto& s : a->get_array())
      if (s.is_string()) out.emplace_back(s.get_string());
  return out;
}

void int_or_name(const json::value* port, Probe& p) {
  if (!port) return;
  if (port->is_int64()) p.port = static_cast<int>(port->get_int64());
  if (port->is_string()) {
    std::string s(port->get_string());
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos)
      p.port = std::stoi(s);
    else
      p.port_name = s;
  }
}

Result<std::optional<Probe>> decode_probe(const json::value& c, const char* key) {
  const auto* v = at(c, {key});
  if (!v || !v->is_object()) return std::optional<Probe>{};
  Probe p;
  if (const auto* t = at(*v, {"tcpSocket"}); t && t->is_object()) {
    p.kind = Probe::Kind::kTcp;
    int_or_name(at(*t, {"port"}), p);
    p.host = str(*t, {"host"});
  } else if (const auto* h = at(*v, {"httpGet"}); h && h->is_object()) {
    p.kind = Probe::Kind::kHttp;
    int_or_name(at(*h, {"port"}), p);
    p.host = str(*h, {"host"});
    if (auto path = str(*h, {"path"}); !path.empty()) p.path = path;
    p.https = str(*h, {"scheme"}) == "HTTPS";
  } else if (const auto* e = at(*v, {"exec"}); e && e->is_object()) {
    p.kind = Probe::Kind::kExec;
    p.command = strings(*e, "command");
    if (p.command.empty()) return fail_msg(std::string(key) + ".exec.command is empty");
  } else {
    return fail_msg(std::string(key) + ": only tcpSocket, httpGet and exec probes are supported");
  }
  auto pos = [&](const char* f, int& out, int min) {
    if (auto n = num(*v, {f}); n && *n >= min) out = static_cast<int>(*n);
  };
  pos("initialDelaySeconds", p.initial_delay_seconds, 0);
  pos("periodSeconds", p.period_seconds, 1);
  pos("timeoutSeconds", p.timeout_seconds, 1);
  pos("successThreshold", p.success_threshold, 1);
  pos("failureThreshold", p.failure_threshold, 1);
  return std::optional<Probe>(std::move(p));
}

Result<ContainerSpec> decode_container(const json::value& c) {
  ContainerSpec out;
  out.name = str(c, {"name"});
  if (out.name.empty()) return fail_msg("container without a name");
  out.image = str(c, {"image"});
  out.command = strings(c, "command");
  out.args = strings(c, "args");
  out.working_dir = str(c, {"workingDir"});
  if (const auto* env = at(c, {"env"}); env && env->is_array()) {
    for (const auto& e : env->get_array()) {
      EnvVar var{str(e, {"name"}), str(e, {"value"}), str(e, {"valueFrom", "fieldRef", "fieldPath"})};
      if (!var.name.empty()) out.env.push_back(std::move(var));
    }
  }
  if (const auto* ports = at(c, {"ports"}); ports && ports->is_array()) {
    for (const auto& p : ports->get_array()) {
      ContainerPort port{str(p, {"name"}), static_cast<int>(num(p, {"containerPort"}).value_or(0)),
                         static_cast<int>(num(p, {"hostPort"}).value_or(0)), str(p, {"protocol"})};
      if (port.protocol.empty()) port.protocol = "TCP";
      out.ports.push_back(std::move(port));
    }
  }
  PODNET_TRY(readiness, decode_probe(c, "readinessProbe"));
  PODNET_TRY(liveness, decode_probe(c, "livenessProbe"));
  PODNET_TRY(startup, decode_probe(c, "startupProbe"));
  out.readiness = std::move(readiness);
  out.liveness = std::move(liveness);
  out.startup = std::move(startup);
  return out;
}

}  // namespace

Result<PodSpec> decode_pod(const json::value& pod) {
  PodSpec s;
  s.uid = str(pod, {"metadata", "uid"});
  s.namespace_ = str(pod, {"metadata", "namespace"});
  s.name = str(pod, {"metadata", "name"});
  if (s.uid.empty() || s.name.empty()) return fail_msg("pod without metadata.uid or metadata.name");
  if (s.namespace_.empty()) s.namespace_ = "default";
  s.node_name = str(pod, {"spec", "nodeName"});
  if (const auto* h = at(pod, {"spec", "hostNetwork"}); h && h->is_bool()) s.host_network = h->get_bool();
  std::string rp = str(pod, {"spec", "restartPolicy"});
  s.restart_policy = rp == "Never"       ? RestartPolicy::kNever
                     : rp == "OnFailure" ? RestartPolicy::kOnFailure
                                         : RestartPolicy::kAlways;
  if (auto g = num(pod, {"spec", "terminationGracePeriodSeconds"}); g && *g >= 0) s.grace_period_seconds = *g;
  s.deleting = at(pod, {"metadata", "deletionTimestamp"}) != nullptr &&
               !at(pod, {"metadata", "deletionTimestamp"})->is_null();
  s.deletion_grace_seconds = num(pod, {"metadata", "deletionGracePeriodSeconds"});
  for (auto [key, out] : {std::pair{"containers", &s.containers}, std::pair{"initContainers", &s.init_containers}}) {
    if (const auto* cs = at(pod, {"spec", key}); cs && cs->is_array()) {
      for (const auto& c : cs->get_array()) {
        auto decoded = decode_container(c);
        if (!decoded) return std::unexpected(wrap(decoded.error(), "pod " + s.key()));
        out->push_back(std::move(*decoded));
      }
    }
  }
  if (s.containers.empty()) return fail_msg("pod " + s.key() + " has no containers");
  return s;
}

int probe_port(const Probe& probe, const ContainerSpec& container) {
  if (probe.port_name.empty()) return probe.port;
  for (const auto& p : container.ports)
    if (p.name == probe.port_name) return p.container_port;
  return 0;
}

}  // namespace podnet::runtime
