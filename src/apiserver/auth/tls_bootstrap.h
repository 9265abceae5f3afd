// First-start credentials of `podnet server`: the cluster CA, the API server's serving certificate,
// the admin client certificate and the API server's client certificate for node agents, kept under
// DATA_DIR/pki and reused on later starts.
#pragma once

#include <string>
#include <vector>

#include "apiserver/auth/pki.h"
#include "common/error.h"

namespace podnet::apiserver {

struct ServerCredentials {
  KeyPair ca;
  KeyPair serving;
  KeyPair admin;  // CN=podnet-admin, O=system:masters
  // kube-apiserver's --kubelet-client-certificate: CN=kube-apiserver-kubelet-client, no group. Node
  // agents let it read logs; to the API server it is a user without permissions.
  KeyPair kubelet_client;
};

struct BootstrapOptions {
  std::string pki_dir;                   // DATA_DIR/pki
  std::vector<std::string> serving_ips;  // subjectAltName IPs besides 127.0.0.1
  std::vector<std::string> serving_dns;  // subjectAltName names besides localhost and kubernetes.*
};

// Loads what exists and creates what is missing. The serving certificate is re-issued when its
// addresses do not cover `serving_ips` (e.g. a new --bind-address), never the CA.
Result<ServerCredentials> ensure_credentials(const BootstrapOptions& options);

// Writes `content` readable by the owner only, atomically (tmp file + rename).
Status write_private_file(const std::string& path, const std::string& content);

}  // namespace podnet::apiserver
