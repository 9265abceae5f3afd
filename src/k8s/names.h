// Kubernetes' value formats (apimachinery's util/validation) with its exact messages: DNS-1123
// labels and subdomains, IANA service (port) names, environment variable names. The API server
// reports them as field causes; the node checks what it reads from the API with the same rules.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace podnet::k8s {

// [a-z0-9]([-a-z0-9]*[a-z0-9])? (any length: the length rule is reported apart).
bool is_dns1123_label(std::string_view s);
// Labels joined by dots (any length).
bool is_dns1123_subdomain(std::string_view s);

// Empty when valid; otherwise kube's messages, one per broken rule (IsDNS1123Label,
// IsDNS1123Subdomain, IsValidPortName, IsRelaxedEnvVarName).
std::vector<std::string> dns1123_label_errors(std::string_view value);
std::vector<std::string> dns1123_subdomain_errors(std::string_view value);
std::vector<std::string> port_name_errors(std::string_view name);
// kube 1.32's rule (RelaxedEnvironmentVariableValidation, on by default): printable ASCII but '='.
std::vector<std::string> env_var_name_errors(std::string_view name);

// "must be between 1 and 65535, inclusive"
std::string inclusive_range_error(int64_t lo, int64_t hi);
inline bool valid_port_number(int64_t port) {
  return port >= 1 && port <= 65535;
}

}  // namespace podnet::k8s
