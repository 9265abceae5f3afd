// A node agent's credential: a client certificate CN=system:node:<name>, O=system:nodes signed by
// the cluster CA under DATA_DIR/pki, in a kubeconfig for the API server. `podnet server
// --issue-node-credential` writes it; nothing here needs the server to be running.
#pragma once

#include <string>

#include "common/error.h"

namespace podnet::apiserver {

// Fails when `node` is not a DNS-1123 subdomain or the CA files are missing or unreadable.
Status write_node_kubeconfig(const std::string& pki_dir, const std::string& node,
                             const std::string& server_url, const std::string& path);

}  // namespace podnet::apiserver
