#include "apiserver/node_credential.h"

#include "apiserver/kubeconfig.h"
#include "apiserver/pki.h"
#include "apiserver/validation.h"
#include "common/files.h"

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

}  // namespace podnet::apiserver
