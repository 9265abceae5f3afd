// The kubeconfig file `podnet server` writes for its admin (DATA_DIR/admin.kubeconfig): one cluster,
// one user with embedded client certificate data, one current context.
#pragma once

#include <string>

#include "apiserver/auth/pki.h"
#include "common/error.h"

namespace podnet::apiserver {

struct KubeconfigSpec {
  std::string server_url;  // https://127.0.0.1:6443
  std::string ca_pem;
  KeyPair client;
  std::string cluster_name = "podnet";
  std::string user_name = "podnet-admin";
};

std::string render_kubeconfig(const KubeconfigSpec& spec);
// Renders and stores it with mode 0600 (it holds a private key).
Status write_kubeconfig(const std::string& path, const KubeconfigSpec& spec);

}  // namespace podnet::apiserver
