#include "runtime/service_env.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace podnet::runtime {
namespace {

// kubelet's makeEnvVariableName: upper case, '-' to '_' (Service names are DNS-1035 labels).
std::string env_name(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// net.JoinHostPort
std::string host_port(const IpAddress& ip, int32_t port) {
  std::string host = ip.to_string();
  return (ip.is_v4() ? host : "[" + host + "]") + ":" + std::to_string(port);
}

void append_service(const k8s::Service& svc, std::vector<std::pair<std::string, std::string>>& out) {
  const std::string prefix = env_name(svc.meta.name);
  const IpAddress& ip = svc.cluster_ips.front();  // spec.clusterIP: the primary family
  out.emplace_back(prefix + "_SERVICE_HOST", ip.to_string());
  if (svc.ports.empty()) return;  // the API requires a port for a ClusterIP Service
  const std::string port_var = prefix + "_SERVICE_PORT";
  out.emplace_back(port_var, std::to_string(svc.ports.front().port));
  for (const auto& p : svc.ports)
    if (!p.name.empty()) out.emplace_back(port_var + "_" + env_name(p.name), std::to_string(p.port));
  // Docker's link variables; the first port gets the short name too.
  for (size_t i = 0; i < svc.ports.size(); ++i) {
    const auto& p = svc.ports[i];
    std::string proto = k8s::protocol_name(p.protocol);
    std::string url = lower(proto) + "://" + host_port(ip, p.port);
    if (i == 0) out.emplace_back(prefix + "_PORT", url);
    std::string pp = prefix + "_PORT_" + std::to_string(p.port) + "_" + proto;
    out.emplace_back(pp, url);
    out.emplace_back(pp + "_PROTO", lower(proto));
    out.emplace_back(pp + "_PORT", std::to_string(p.port));
    out.emplace_back(pp + "_ADDR", ip.to_string());
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> service_env(const std::vector<k8s::Service>& services,
                                                             const std::string& pod_namespace,
                                                             bool enable_service_links) {
  std::map<std::string, const k8s::Service*> chosen;  // by name, as kubelet's serviceMap
  for (const auto& svc : services) {
    // kubelet's IsServiceIPSet: headless and ExternalName Services have no variables.
    if (svc.headless || svc.cluster_ips.empty()) continue;
    const auto& name = svc.meta.name;
    if (svc.meta.namespace_ == "default" && name == "kubernetes") {
      chosen.emplace(name, &svc);  // only where the pod's namespace has not put its own
    } else if (svc.meta.namespace_ == pod_namespace && enable_service_links) {
      chosen[name] = &svc;
    }
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, svc] : chosen) append_service(*svc, out);
  return out;
}

}  // namespace podnet::runtime
