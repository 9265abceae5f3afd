// kubeconfig rendering: YAML by hand (the structure is fixed and every value is either a plain name,
// a URL or base64), so no YAML library is needed.
#include "apiserver/auth/kubeconfig.h"

#include <boost/beast/core/detail/base64.hpp>

#include "apiserver/auth/tls_bootstrap.h"

namespace podnet::apiserver {
namespace {

std::string base64(const std::string& in) {
  namespace b64 = boost::beast::detail::base64;
  std::string out(b64::encoded_size(in.size()), '\0');
  out.resize(b64::encode(out.data(), in.data(), in.size()));
  return out;
}

}  // namespace

std::string render_kubeconfig(const KubeconfigSpec& spec) {
  std::string context = spec.user_name + "@" + spec.cluster_name;
  std::string out;
  out += "apiVersion: v1\nkind: Config\n";
  out += "clusters:\n- name: " + spec.cluster_name + "\n  cluster:\n";
  out += "    server: " + spec.server_url + "\n";
  out += "    certificate-authority-data: " + base64(spec.ca_pem) + "\n";
  out += "users:\n- name: " + spec.user_name + "\n  user:\n";
  out += "    client-certificate-data: " + base64(spec.client.cert_pem) + "\n";
  out += "    client-key-data: " + base64(spec.client.key_pem) + "\n";
  out += "contexts:\n- name: " + context + "\n  context:\n    cluster: " + spec.cluster_name +
         "\n    user: " + spec.user_name + "\n";
  out += "current-context: " + context + "\n";
  return out;
}

Status write_kubeconfig(const std::string& path, const KubeconfigSpec& spec) {
  return write_private_file(path, render_kubeconfig(spec));
}

}  // namespace podnet::apiserver
