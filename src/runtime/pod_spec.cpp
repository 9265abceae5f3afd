// A strict reader: every value is checked for its JSON type and range before the node uses it,
// and the first problem is reported with its field path in kube's words. Absent and null fields
// take kube's defaults, so any pod the API server accepts decodes.
#include "runtime/pod_spec.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <set>
#include <tuple>

#include "common/ip.h"
#include "k8s/names.h"

namespace podnet::runtime {
namespace json = boost::json;
namespace {

std::string quoted(std::string_view s) {
  return json::serialize(json::string(s));
}

// "spec.containers[0]"
std::string at_index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Reads fields of one JSON object at a field path; the first problem ends the decode.
class Reader {
 public:
  explicit Reader(std::optional<std::string>& error) : error_(error) {}

  bool failed() const { return error_.has_value(); }
  void fail(const std::string& path, const std::string& message) {
    if (!error_) error_ = path + ": " + message;
  }
  void invalid(const std::string& path, const std::string& value, const std::string& why) {
    fail(path, "Invalid value: " + value + ": " + why);
  }

  // Absent or null: nullptr.
  const json::value* member(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v && !v->is_null() ? v : nullptr;
  }
  const json::object* object(const json::object& o, std::string_view key, const std::string& path) {
    const json::value* v = member(o, key);
    if (v && !v->is_object()) fail(path, "must be an object");
    return v ? v->if_object() : nullptr;
  }
  const json::array* array(const json::object& o, std::string_view key, const std::string& path) {
    const json::value* v = member(o, key);
    if (v && !v->is_array()) fail(path, "must be a list");
    return v ? v->if_array() : nullptr;
  }
  // Strings reach argv, environments and file names: no NUL byte.
  std::string string(const json::value* v, const std::string& path) {
    if (!v || v->is_null()) return {};
    if (!v->is_string()) {
      fail(path, "must be a string");
      return {};
    }
    std::string s(v->get_string());
    if (s.find('\0') != std::string::npos) fail(path, "must not contain a NUL character");
    return s;
  }
  std::string string(const json::object& o, std::string_view key, const std::string& path) {
    return string(member(o, key), path);
  }
  std::vector<std::string> strings(const json::object& o, std::string_view key, const std::string& path) {
    std::vector<std::string> out;
    if (const json::array* a = array(o, key, path))
      for (size_t i = 0; i < a->size() && !failed(); ++i) {
        if (!(*a)[i].is_string()) fail(at_index(path, i), "must be a string");
        out.push_back(string(&(*a)[i], at_index(path, i)));
      }
    return out;
  }
  std::optional<int64_t> integer(const json::object& o, std::string_view key, const std::string& path) {
    const json::value* v = member(o, key);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
      return static_cast<int64_t>(v->get_uint64());
    invalid(path, json::serialize(*v), "must be an integer");
    return std::nullopt;
  }
  // A non-negative int32 field (kube's probe fields): absent or 0 takes `fallback`.
  int int32(const json::object& o, std::string_view key, const std::string& path, int fallback) {
    auto n = integer(o, key, path);
    if (!n || *n == 0) return fallback;
    if (*n < 0 || *n > INT32_MAX) {
      invalid(path, std::to_string(*n),
              *n < 0 ? "must be greater than or equal to 0" : k8s::inclusive_range_error(0, INT32_MAX));
      return fallback;
    }
    return static_cast<int>(*n);
  }
  bool boolean(const json::object& o, std::string_view key, const std::string& path) {
    const json::value* v = member(o, key);
    if (v && !v->is_bool()) fail(path, "must be a boolean");
    return v && v->is_bool() && v->get_bool();
  }

 private:
  std::optional<std::string>& error_;
};

// A probe port: a number, a decimal string (kubelet's fallback) or a port name looked up when the
// probe runs.
void read_probe_port(Reader& r, const json::object& action, const std::string& path, Probe& p) {
  const json::value* port = r.member(action, "port");
  std::string where = path + ".port";
  if (!port) return r.invalid(where, "0", k8s::inclusive_range_error(1, 65535));
  if (port->is_string()) {
    std::string s(port->get_string());
    int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    bool decimal = !s.empty() && ec == std::errc() && end == s.data() + s.size();
    if (decimal && k8s::valid_port_number(n)) {
      p.port = static_cast<int>(n);
    } else if (!decimal && k8s::port_name_errors(s).empty()) {
      p.port_name = s;
    } else {
      r.invalid(where, quoted(s), k8s::inclusive_range_error(1, 65535) + ", or a port name");
    }
    return;
  }
  auto n = r.integer(action, "port", where);
  if (!n) return;
  if (!k8s::valid_port_number(*n))
    return r.invalid(where, std::to_string(*n), k8s::inclusive_range_error(1, 65535));
  p.port = static_cast<int>(*n);
}

enum class ProbeKind { kLiveness, kReadiness, kStartup };

std::optional<Probe> read_probe(Reader& r, const json::object& ctr, const char* key, ProbeKind kind,
                                const std::string& ctr_path) {
  std::string path = ctr_path + "." + key;
  const json::object* v = r.object(ctr, key, path);
  if (!v) return std::nullopt;
  Probe p;
  const json::object* tcp = r.object(*v, "tcpSocket", path + ".tcpSocket");
  const json::object* http = r.object(*v, "httpGet", path + ".httpGet");
  const json::object* exec = r.object(*v, "exec", path + ".exec");
  if (r.member(*v, "grpc")) r.fail(path + ".grpc", "grpc probes are not supported by this node");
  if ((tcp != nullptr) + (http != nullptr) + (exec != nullptr) > 1)
    r.fail(path, "may not specify more than 1 handler type");
  if (!tcp && !http && !exec) r.fail(path, "Required value: must specify a handler type");
  if (tcp) {
    p.kind = Probe::Kind::kTcp;
    read_probe_port(r, *tcp, path + ".tcpSocket", p);
    p.host = r.string(*tcp, "host", path + ".tcpSocket.host");
  } else if (http) {
    std::string hp = path + ".httpGet";
    p.kind = Probe::Kind::kHttp;
    read_probe_port(r, *http, hp, p);
    p.host = r.string(*http, "host", hp + ".host");
    if (auto s = r.string(*http, "path", hp + ".path"); !s.empty()) p.path = s;
    std::string scheme = r.string(*http, "scheme", hp + ".scheme");
    if (!scheme.empty() && scheme != "HTTP" && scheme != "HTTPS")
      r.fail(hp + ".scheme",
             "Unsupported value: " + quoted(scheme) + ": supported values: \"HTTP\", \"HTTPS\"");
    p.https = scheme == "HTTPS";
  } else if (exec) {
    p.kind = Probe::Kind::kExec;
    p.command = r.strings(*exec, "command", path + ".exec.command");
    if (p.command.empty()) r.fail(path + ".exec.command", "Required value");
  }
  p.initial_delay_seconds = r.int32(*v, "initialDelaySeconds", path + ".initialDelaySeconds", 0);
  p.timeout_seconds = r.int32(*v, "timeoutSeconds", path + ".timeoutSeconds", 1);
  p.period_seconds = r.int32(*v, "periodSeconds", path + ".periodSeconds", 10);
  p.success_threshold = r.int32(*v, "successThreshold", path + ".successThreshold", 1);
  p.failure_threshold = r.int32(*v, "failureThreshold", path + ".failureThreshold", 3);
  if (kind != ProbeKind::kReadiness && p.success_threshold != 1)
    r.invalid(path + ".successThreshold", std::to_string(p.success_threshold), "must be 1");
  return p;
}

// The downward-API paths the node resolves (kube's list for env vars; "spec.host" is the old
// name of spec.nodeName), with metadata.labels['k'] and metadata.annotations['k'].
bool env_field_supported(const std::string& path) {
  static const std::set<std::string, std::less<>> kPaths = {
      "metadata.name",           "metadata.namespace", "metadata.uid",   "spec.nodeName", "spec.host",
      "spec.serviceAccountName", "status.hostIP",      "status.hostIPs", "status.podIP",  "status.podIPs"};
  if (kPaths.contains(path)) return true;
  for (std::string_view base : {"metadata.labels['", "metadata.annotations['"})
    if (path.starts_with(base) && path.ends_with("']") && path.size() > base.size() + 2) return true;
  return false;
}

void read_env(Reader& r, const json::object& ctr, const std::string& ctr_path, ContainerSpec& out) {
  std::string path = ctr_path + ".env";
  const json::array* env = r.array(ctr, "env", path);
  if (!env) return;
  for (size_t i = 0; i < env->size() && !r.failed(); ++i) {
    std::string p = at_index(path, i);
    const json::object* e = (*env)[i].if_object();
    if (!e) return r.fail(p, "must be an object");
    EnvVar var{r.string(*e, "name", p + ".name"), r.string(*e, "value", p + ".value"), ""};
    if (var.name.empty()) return r.fail(p + ".name", "Required value");
    if (auto errs = k8s::env_var_name_errors(var.name); !errs.empty())
      return r.invalid(p + ".name", quoted(var.name), errs.front());
    if (const json::object* from = r.object(*e, "valueFrom", p + ".valueFrom")) {
      for (const char* source : {"resourceFieldRef", "configMapKeyRef", "secretKeyRef"})
        if (r.member(*from, source))
          return r.fail(p + ".valueFrom." + source, "not supported by this node (only fieldRef is)");
      const json::object* ref = r.object(*from, "fieldRef", p + ".valueFrom.fieldRef");
      if (!ref) return r.fail(p + ".valueFrom", "Required value: must specify fieldRef");
      std::string fp = p + ".valueFrom.fieldRef.fieldPath";
      var.field_path = r.string(*ref, "fieldPath", fp);
      if (!r.failed() && !env_field_supported(var.field_path))
        return r.fail(fp, "Unsupported value: " + quoted(var.field_path));
    }
    out.env.push_back(std::move(var));
  }
}

void read_ports(Reader& r, const json::object& ctr, const std::string& ctr_path, ContainerSpec& out) {
  std::string path = ctr_path + ".ports";
  const json::array* ports = r.array(ctr, "ports", path);
  if (!ports) return;
  for (size_t i = 0; i < ports->size() && !r.failed(); ++i) {
    std::string p = at_index(path, i);
    const json::object* o = (*ports)[i].if_object();
    if (!o) return r.fail(p, "must be an object");
    ContainerPort port;
    port.name = r.string(*o, "name", p + ".name");
    if (!port.name.empty())
      if (auto errs = k8s::port_name_errors(port.name); !errs.empty())
        return r.invalid(p + ".name", quoted(port.name), errs.front());
    auto cp = r.integer(*o, "containerPort", p + ".containerPort");
    auto hp = r.integer(*o, "hostPort", p + ".hostPort").value_or(0);
    if (r.failed()) return;
    if (!cp || !k8s::valid_port_number(*cp))
      return r.invalid(p + ".containerPort", std::to_string(cp.value_or(0)),
                       k8s::inclusive_range_error(1, 65535));
    if (hp != 0 && !k8s::valid_port_number(hp))
      return r.invalid(p + ".hostPort", std::to_string(hp), k8s::inclusive_range_error(1, 65535));
    port.container_port = static_cast<int>(*cp);
    port.host_port = static_cast<int>(hp);
    port.protocol = r.string(*o, "protocol", p + ".protocol");
    if (port.protocol.empty()) port.protocol = "TCP";
    if (port.protocol != "TCP" && port.protocol != "UDP" && port.protocol != "SCTP")
      return r.fail(p + ".protocol", "Unsupported value: " + quoted(port.protocol) +
                                         ": supported values: \"SCTP\", \"TCP\", \"UDP\"");
    out.ports.push_back(std::move(port));
  }
}

ContainerSpec read_container(Reader& r, const json::object& c, const std::string& path, bool init) {
  ContainerSpec out;
  out.name = r.string(c, "name", path + ".name");
  if (out.name.empty())
    r.fail(path + ".name", "Required value");
  else if (auto errs = k8s::dns1123_label_errors(out.name); !errs.empty())
    r.invalid(path + ".name", quoted(out.name), errs.front());
  out.image = r.string(c, "image", path + ".image");
  out.command = r.strings(c, "command", path + ".command");
  out.args = r.strings(c, "args", path + ".args");
  out.working_dir = r.string(c, "workingDir", path + ".workingDir");
  out.stdin = r.boolean(c, "stdin", path + ".stdin");
  out.stdin_once = r.boolean(c, "stdinOnce", path + ".stdinOnce");
  out.tty = r.boolean(c, "tty", path + ".tty");
  read_env(r, c, path, out);
  read_ports(r, c, path, out);
  if (r.member(c, "restartPolicy"))
    r.fail(path + ".restartPolicy",
           init ? "sidecar containers (restartPolicy on an init container) are not supported by this node"
                : "Forbidden: may not be set for non-init containers");
  out.liveness = read_probe(r, c, "livenessProbe", ProbeKind::kLiveness, path);
  out.readiness = read_probe(r, c, "readinessProbe", ProbeKind::kReadiness, path);
  out.startup = read_probe(r, c, "startupProbe", ProbeKind::kStartup, path);
  if (init && (out.liveness || out.readiness || out.startup))
    r.fail(path, "Forbidden: probes may not be set for init containers without restartPolicy=Always");
  return out;
}

// Text that becomes one word of resolv.conf or /etc/hosts: no whitespace or control characters,
// so no value can end its line and add another.
bool one_word(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

void read_ip(Reader& r, const json::value& v, const std::string& path, std::string& out) {
  out = r.string(&v, path);
  // No zone ("fe80::1%eth0"): kube's parser takes none, and its text would reach the files.
  if (!r.failed() &&
      (!v.is_string() || !one_word(out) || out.find('%') != std::string::npos || !parse_ip(out)))
    r.invalid(path, quoted(out), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
}

// spec.dnsPolicy, spec.dnsConfig, spec.hostAliases, hostname and subdomain: what the pod's
// /etc/resolv.conf and /etc/hosts are made of (kube's validation rules and messages).
void read_dns(Reader& r, const json::object& spec, PodSpec& s) {
  s.hostname = r.string(spec, "hostname", "spec.hostname");
  if (!s.hostname.empty())
    if (auto errs = k8s::dns1123_label_errors(s.hostname); !errs.empty())
      return r.invalid("spec.hostname", quoted(s.hostname), errs.front());
  s.subdomain = r.string(spec, "subdomain", "spec.subdomain");
  if (!s.subdomain.empty())
    if (auto errs = k8s::dns1123_label_errors(s.subdomain); !errs.empty())
      return r.invalid("spec.subdomain", quoted(s.subdomain), errs.front());
  s.set_hostname_as_fqdn = r.boolean(spec, "setHostnameAsFQDN", "spec.setHostnameAsFQDN");
  if (const json::value* links = r.member(spec, "enableServiceLinks")) {
    if (!links->is_bool()) return r.fail("spec.enableServiceLinks", "must be a boolean");
    s.enable_service_links = links->get_bool();
  }
  std::string policy = r.string(spec, "dnsPolicy", "spec.dnsPolicy");
  if (policy.empty() || policy == "ClusterFirst")
    s.dns_policy = DnsPolicy::kClusterFirst;
  else if (policy == "ClusterFirstWithHostNet")
    s.dns_policy = DnsPolicy::kClusterFirstWithHostNet;
  else if (policy == "Default")
    s.dns_policy = DnsPolicy::kDefault;
  else if (policy == "None")
    s.dns_policy = DnsPolicy::kNone;
  else
    return r.fail("spec.dnsPolicy", "Unsupported value: " + quoted(policy) +
                                        ": supported values: \"ClusterFirst\", \"ClusterFirstWithHostNet\", "
                                        "\"Default\", \"None\"");
  const json::object* cfg = r.object(spec, "dnsConfig", "spec.dnsConfig");
  if (r.failed()) return;
  if (!cfg && s.dns_policy == DnsPolicy::kNone)
    return r.fail("spec.dnsConfig", "Required value: must provide `dnsConfig` when `dnsPolicy` is None");
  if (cfg) {
    PodDnsConfig c;
    const std::string base = "spec.dnsConfig";
    if (const json::array* ns = r.array(*cfg, "nameservers", base + ".nameservers")) {
      if (ns->size() > 3)
        return r.invalid(base + ".nameservers", json::serialize(*ns),
                         "must not have more than 3 nameservers");
      for (size_t i = 0; i < ns->size() && !r.failed(); ++i)
        read_ip(r, (*ns)[i], at_index(base + ".nameservers", i), c.nameservers.emplace_back());
    }
    if (!r.failed() && s.dns_policy == DnsPolicy::kNone && c.nameservers.empty())
      return r.fail(base + ".nameservers",
                    "Required value: must provide at least one DNS nameserver when `dnsPolicy` is None");
    c.searches = r.strings(*cfg, "searches", base + ".searches");
    if (r.failed()) return;
    if (c.searches.size() > 32)
      return r.invalid(base + ".searches", quoted(c.searches.front() + "..."),
                       "must not have more than 32 search paths");
    size_t chars = 0;
    for (size_t i = 0; i < c.searches.size(); ++i) {
      const std::string& d = c.searches[i];
      chars += d.size() + (i > 0 ? 1 : 0);
      if (d == ".") continue;
      std::string bare = d.ends_with('.') ? d.substr(0, d.size() - 1) : d;
      if (auto errs = k8s::dns1123_subdomain_errors(bare); !errs.empty())
        return r.invalid(at_index(base + ".searches", i), quoted(bare), errs.front());
    }
    if (chars > 2048)
      return r.invalid(base + ".searches", quoted(c.searches.front() + "..."),
                       "must not have more than 2048 characters (including spaces) in the search list");
    if (const json::array* opts = r.array(*cfg, "options", base + ".options")) {
      for (size_t i = 0; i < opts->size() && !r.failed(); ++i) {
        std::string p = at_index(base + ".options", i);
        const json::object* o = (*opts)[i].if_object();
        if (!o) return r.fail(p, "must be an object");
        DnsOption opt{r.string(*o, "name", p + ".name"), std::nullopt};
        if (r.member(*o, "value")) opt.value = r.string(*o, "value", p + ".value");
        if (r.failed()) return;
        if (opt.name.empty()) return r.fail(p + ".name", "Required value");
        if (!one_word(opt.name) || opt.name.find(':') != std::string::npos)
          return r.invalid(p + ".name", quoted(opt.name),
                           "must not contain whitespace, control characters or ':' (it becomes a word of "
                           "resolv.conf)");
        if (opt.value && !one_word(*opt.value))
          return r.invalid(
              p + ".value", quoted(*opt.value),
              "must not contain whitespace or control characters (it becomes a word of resolv.conf)");
        c.options.push_back(std::move(opt));
      }
    }
    s.dns_config = std::move(c);
  }
  if (const json::array* aliases = r.array(spec, "hostAliases", "spec.hostAliases")) {
    for (size_t i = 0; i < aliases->size() && !r.failed(); ++i) {
      std::string p = at_index("spec.hostAliases", i);
      const json::object* o = (*aliases)[i].if_object();
      if (!o) return r.fail(p, "must be an object");
      HostAlias a;
      const json::value* ip = r.member(*o, "ip");
      if (!ip) return r.fail(p + ".ip", "Required value");
      read_ip(r, *ip, p + ".ip", a.ip);
      a.hostnames = r.strings(*o, "hostnames", p + ".hostnames");
      for (size_t j = 0; j < a.hostnames.size() && !r.failed(); ++j)
        if (auto errs = k8s::dns1123_subdomain_errors(a.hostnames[j]); !errs.empty())
          return r.invalid(at_index(p + ".hostnames", j), quoted(a.hostnames[j]), errs.front());
      s.host_aliases.push_back(std::move(a));
    }
  }
}

std::map<std::string, std::string> string_map(const json::object* meta, const char* key) {
  std::map<std::string, std::string> out;
  const json::value* v = meta ? meta->if_contains(key) : nullptr;
  if (const json::object* o = v ? v->if_object() : nullptr)
    for (const auto& [k, val] : *o)
      if (val.is_string()) out.emplace(std::string(k), std::string(val.get_string()));
  return out;
}

// uid, namespace and name, checked: they reach file, namespace and CNI_ARGS values.
void read_identity(Reader& r, const json::value& pod, PodSpec& s) {
  const json::object* root = pod.if_object();
  if (!root) return r.fail("pod", "must be an object");
  const json::object* meta = r.object(*root, "metadata", "metadata");
  if (!meta) return r.fail("metadata", "Required value");
  s.uid = r.string(*meta, "uid", "metadata.uid");
  s.name = r.string(*meta, "name", "metadata.name");
  s.namespace_ = r.string(*meta, "namespace", "metadata.namespace");
  if (s.namespace_.empty()) s.namespace_ = "default";
  if (r.failed()) return;
  if (!valid_pod_uid(s.uid)) return r.invalid("metadata.uid", quoted(s.uid), "must be 1-128 of [0-9A-Za-z-]");
  if (auto errs = k8s::dns1123_subdomain_errors(s.name); !errs.empty())
    return r.invalid("metadata.name", quoted(s.name), errs.front());
  if (auto errs = k8s::dns1123_label_errors(s.namespace_); !errs.empty())
    return r.invalid("metadata.namespace", quoted(s.namespace_), errs.front());
  PodDeletion d = decode_deletion(pod);
  s.deleting = d.deleting;
  s.deletion_grace_seconds = d.grace_seconds;
}

}  // namespace

bool valid_pod_uid(std::string_view uid) {
  if (uid.empty() || uid.size() > 128) return false;
  for (char c : uid)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  return true;
}

PodDeletion decode_deletion(const json::value& pod) {
  PodDeletion out;
  const json::object* root = pod.if_object();
  const json::value* m = root ? root->if_contains("metadata") : nullptr;
  const json::object* meta = m ? m->if_object() : nullptr;
  if (!meta) return out;
  const json::value* ts = meta->if_contains("deletionTimestamp");
  out.deleting = ts && !ts->is_null();
  if (const json::value* g = meta->if_contains("deletionGracePeriodSeconds")) {
    if (g->is_int64()) out.grace_seconds = std::clamp<int64_t>(g->get_int64(), 0, kMaxGraceSeconds);
    if (g->is_uint64()) out.grace_seconds = kMaxGraceSeconds;  // beyond int64: as long as we allow
  }
  return out;
}

Result<PodSpec> decode_pod(const json::value& pod) {
  std::optional<std::string> error;
  Reader r(error);
  PodSpec s;
  read_identity(r, pod, s);
  if (error) return fail_msg("pod: " + *error);
  const json::object& root = pod.get_object();
  const json::object* meta = root.if_contains("metadata")->if_object();
  s.labels = string_map(meta, "labels");
  s.annotations = string_map(meta, "annotations");
  const json::object* spec = r.object(root, "spec", "spec");
  if (!spec) r.fail("spec", "Required value");
  if (spec) {
    s.node_name = r.string(*spec, "nodeName", "spec.nodeName");
    s.service_account = r.string(*spec, "serviceAccountName", "spec.serviceAccountName");
    s.host_network = r.boolean(*spec, "hostNetwork", "spec.hostNetwork");
    std::string rp = r.string(*spec, "restartPolicy", "spec.restartPolicy");
    if (rp.empty() || rp == "Always")
      s.restart_policy = RestartPolicy::kAlways;
    else if (rp == "OnFailure")
      s.restart_policy = RestartPolicy::kOnFailure;
    else if (rp == "Never")
      s.restart_policy = RestartPolicy::kNever;
    else
      r.fail("spec.restartPolicy",
             "Unsupported value: " + quoted(rp) + ": supported values: \"Always\", \"OnFailure\", \"Never\"");
    read_dns(r, *spec, s);
    // kube still accepts a negative period and treats it as 1 s when deleting.
    if (auto g = r.integer(*spec, "terminationGracePeriodSeconds", "spec.terminationGracePeriodSeconds"))
      s.grace_period_seconds = *g < 0 ? 1 : std::min(*g, kMaxGraceSeconds);
    std::set<std::string> names;
    for (auto [key, out, init] : {std::tuple{"containers", &s.containers, false},
                                  std::tuple{"initContainers", &s.init_containers, true}}) {
      std::string path = std::string("spec.") + key;
      const json::array* cs = r.array(*spec, key, path);
      for (size_t i = 0; cs && i < cs->size() && !r.failed(); ++i) {
        std::string p = at_index(path, i);
        const json::object* c = (*cs)[i].if_object();
        if (!c) {
          r.fail(p, "must be an object");
          break;
        }
        out->push_back(read_container(r, *c, p, init));
        if (!r.failed() && !names.insert(out->back().name).second)
          r.fail(p + ".name", "Duplicate value: " + quoted(out->back().name));
      }
    }
    if (!r.failed() && s.containers.empty()) r.fail("spec.containers", "Required value");
  }
  if (error) return fail_msg("pod " + s.key() + ": " + *error);
  return s;
}

Result<PodSpec> decode_pod_identity(const json::value& pod) {
  std::optional<std::string> error;
  Reader r(error);
  PodSpec s;
  read_identity(r, pod, s);
  if (error) return fail_msg("pod: " + *error);
  const json::value* spec = pod.get_object().if_contains("spec");
  std::set<std::string> names;
  for (auto [key, out] :
       {std::pair{"containers", &s.containers}, std::pair{"initContainers", &s.init_containers}}) {
    const json::value* cs = spec && spec->is_object() ? spec->get_object().if_contains(key) : nullptr;
    if (!cs || !cs->is_array()) continue;
    for (const auto& c : cs->get_array()) {
      const json::value* name = c.is_object() ? c.get_object().if_contains("name") : nullptr;
      if (!name || !name->is_string()) continue;
      std::string n(name->get_string());
      if (k8s::dns1123_label_errors(n).empty() && names.insert(n).second)
        out->push_back(ContainerSpec{.name = n});
    }
  }
  return s;
}

int probe_port(const Probe& probe, const ContainerSpec& container) {
  if (probe.port_name.empty()) return probe.port;
  for (const auto& p : container.ports)
    if (p.name == probe.port_name) return p.container_port;
  return 0;
}

}  // namespace podnet::runtime
