#include "apiserver/auth/node_credential.h"

#include "apiserver/auth/kubeconfig.h"
#include "apiserver/auth/pki.h"
#include "apiserver/auth/tls_bootstrap.h"
#include "apiserver/validation/ip_validation.h"
#include "apiserver/validation/validation.h"
#include "common/files.h"
#include "common/ip.h"

namespace podnet::apiserver {

Status write_node_kubeconfig(const std::string& pki_dir, const std::string& node,
                             const std::string& server_url, const std::string& path) {
  if (auto causes = validate_name(NameRule::kDns1123Subdomain, node); !causes.empty())
    return fail_msg("node name \"" + node + "\": " + causes.front().message);
  auto ca_cert = read_file(pki_dir + "/ca.crt");
  auto ca_key = read_file(pki_dir + "/ca.key");
  if (!ca_cert || !ca_key)
    return fail_msg("no cluster CA under " + pki_dir + " (start `podnet server` with this data dir once)");
  CertRequest req;
  req.common_name = "system:node:" + node;
  req.organizations = {"system:nodes"};
  req.client_auth = true;
  auto pair = make_leaf(KeyPair{*ca_cert, *ca_key}, req);
  if (!pair) return std::unexpected(wrap(pair.error(), "sign node certificate"));
  KubeconfigSpec spec;
  spec.server_url = server_url;
  spec.ca_pem = *ca_cert;
  spec.client = std::move(*pair);
  spec.user_name = "system:node:" + node;
  return write_kubeconfig(path, spec);
}

Status write_node_serving_cert(const std::string& pki_dir, const std::string& node,
                               const std::vector<std::string>& addresses, const std::string& prefix) {
  if (auto causes = validate_name(NameRule::kDns1123Subdomain, node); !causes.empty())
    return fail_msg("node name \"" + node + "\": " + causes.front().message);
  if (addresses.empty()) return fail_msg("a serving certificate needs the node's address (--node-address)");
  CertRequest req;
  req.common_name = "system:node:" + node;
  req.organizations = {"system:nodes"};
  req.server_auth = true;
  req.dns_names = {node};
  for (const auto& text : addresses) {
    auto ip = parse_ip(text);
    if (!ip) return fail_msg("node address \"" + text + "\": not an IP address");
    if (auto errors = special_ip_errors(*ip, text); !errors.empty())
      return fail_msg("node address \"" + text + "\": " + errors.front());
    req.ip_addresses.push_back(unmapped(*ip).to_string());
  }
  auto ca_cert = read_file(pki_dir + "/ca.crt");
  auto ca_key = read_file(pki_dir + "/ca.key");
  if (!ca_cert || !ca_key)
    return fail_msg("no cluster CA under " + pki_dir + " (start `podnet server` with this data dir once)");
  auto pair = make_leaf(KeyPair{*ca_cert, *ca_key}, req);
  if (!pair) return std::unexpected(wrap(pair.error(), "sign node serving certificate"));
  if (auto slash = prefix.rfind('/'); slash != std::string::npos && slash > 0)
    if (auto s = make_dirs(prefix.substr(0, slash), 0700); !s) return s;
  if (auto s = write_private_file(prefix + ".key", pair->key_pem); !s) return s;
  return write_private_file(prefix + ".crt", pair->cert_pem);
}

}  // namespace podnet::apiserver
