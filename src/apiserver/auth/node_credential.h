// A node agent's credentials: a client certificate CN=system:node:<name>, O=system:nodes signed by
// the cluster CA under DATA_DIR/pki, in a kubeconfig for the API server; and the serving certificate
// of its log server (kubelet's --tls-cert-file) for its name and addresses, which the API server
// verifies. `podnet server --issue-node-credential` writes them; nothing here needs the server.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace podnet::apiserver {

// Fails when `node` is not a DNS-1123 subdomain or the CA files are missing or unreadable.
Status write_node_kubeconfig(const std::string& pki_dir, const std::string& node,
                             const std::string& server_url, const std::string& path);

// Writes `<prefix>.crt` and `<prefix>.key` (0600): CN=system:node:<node>, O=system:nodes, SANs
// DNS:<node> and IP:<each address>, serverAuth, signed by the cluster CA. Fails on a bad name, an
// address that is not an IP or that no client may be sent to (loopback, link-local, unspecified),
// or none at all.
Status write_node_serving_cert(const std::string& pki_dir, const std::string& node,
                               const std::vector<std::string>& addresses, const std::string& prefix);

}  // namespace podnet::apiserver
