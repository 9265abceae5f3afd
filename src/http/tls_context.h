// The TLS context of a podnet server: the one TLS policy (common/tls_policy.h), the serving chain
// and key, and how client certificates are asked for. Shared by the server transport's listeners
// and the node's blocking log server.
#pragma once

#include <memory>
#include <string>

#include "common/error.h"

namespace boost::asio::ssl {
class context;
}

namespace podnet::http {

struct ServerTls {
  std::string cert_pem, key_pem;  // the serving chain and its key
  std::string client_ca_pem;      // client certificates must chain to this CA to authenticate
  // true: no certificate, no connection (kubelet's server); false: anonymous clients get in and
  // their Identity says so (kube-apiserver: 401 from the API layer).
  bool require_client_certificate = false;
};

Result<std::unique_ptr<boost::asio::ssl::context>> server_tls_context(const ServerTls& tls);

}  // namespace podnet::http
