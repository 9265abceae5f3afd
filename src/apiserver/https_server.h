// The HTTPS listener: Boost.Beast over OpenSSL on a small pool of threads, HTTP/1.1 keep-alive,
// a request size limit, and client-certificate identity. It knows nothing about Kubernetes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "apiserver/http_types.h"
#include "apiserver/pki.h"
#include "common/error.h"

namespace podnet::apiserver {

struct HttpsServerOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 6443;                 // 0: any free port (tests)
  KeyPair serving;                      // certificate chain and key presented to clients
  std::string client_ca_pem;            // client certificates must chain to this CA to authenticate
  size_t body_limit = 3 * 1024 * 1024;  // kube-apiserver's default request size limit
  int threads = 2;
};

class HttpsServer {
 public:
  // Binds and starts serving; `handler` must outlive the server.
  static Result<std::unique_ptr<HttpsServer>> start(HttpsServerOptions options, HttpHandler& handler);
  // Stops accepting, closes connections (streams get stop()) and joins the threads.
  ~HttpsServer();
  uint16_t port() const;

  struct Impl;

 private:
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::apiserver
