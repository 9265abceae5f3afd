// The HTTPS listener: Boost.Beast over OpenSSL on a small pool of threads, HTTP/1.1 keep-alive,
// a request size limit, a connection cap, and client-certificate identity. When accept() fails for
// want of file descriptors it backs off (5 ms doubling to 1 s, as Go's net/http) instead of spinning.
// It knows nothing about Kubernetes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "apiserver/auth/pki.h"
#include "apiserver/http/http_types.h"
#include "common/error.h"

namespace podnet::apiserver {

struct HttpsServerOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 6443;                 // 0: any free port (tests)
  KeyPair serving;                      // certificate chain and key presented to clients
  std::string client_ca_pem;            // client certificates must chain to this CA to authenticate
  size_t body_limit = 3 * 1024 * 1024;  // kube-apiserver's default request size limit
  int threads = 2;
  // Connections open at once; one more is accepted and closed at once (its file descriptor freed).
  size_t max_connections = 4096;
};

class HttpsServer {
 public:
  // Binds and starts serving; `handler` must outlive the server.
  static Result<std::unique_ptr<HttpsServer>> start(HttpsServerOptions options, HttpHandler& handler);
  // Stops accepting, closes connections (streams get stop()) and joins the threads.
  ~HttpsServer();
  uint16_t port() const;
  size_t connections() const;  // open now

  struct Impl;

 private:
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::apiserver
