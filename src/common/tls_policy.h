// The one TLS policy every podnet endpoint uses (API server, agent log server, API clients, the API
// server's client of the agents): TLS 1.2 or newer, and in TLS 1.2 only ECDHE key exchange with AEAD
// ciphers, as kube's secure defaults. Also reads a verified peer certificate's subject.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct x509_st;     // OpenSSL's X509

namespace podnet {

// The TLS 1.2 suites offered and accepted (OpenSSL names). TLS 1.3's suites are all AEAD.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Applies the policy to a context (server or client).
Status apply_tls_policy(ssl_ctx_st* ctx);

// A certificate's subject as Kubernetes reads it: CN is the user, each O a group.
struct CertSubject {
  std::string common_name;
  std::vector<std::string> organizations;
};
CertSubject cert_subject(const x509_st* cert);

}  // namespace podnet
