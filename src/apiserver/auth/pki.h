// Certificates and keys for the API server: an EC P-256 CA, leaf certificates it signs (serving and
// client), and PEM encoding. Thin RAII over OpenSSL's EVP/X509 APIs; nothing here touches files.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/error.h"

struct x509_st;  // OpenSSL's X509, kept out of this header

namespace podnet::apiserver {

// A certificate and its private key, both PEM-encoded.
struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

struct CertRequest {
  std::string common_name;                 // CN: the user name for client certificates
  std::vector<std::string> organizations;  // O: the groups for client certificates
  std::vector<std::string> dns_names;      // subjectAltName DNS entries (serving certificates)
  std::vector<std::string> ip_addresses;   // subjectAltName IP entries (serving certificates)
  bool server_auth = false;                // extendedKeyUsage serverAuth
  bool client_auth = false;                // extendedKeyUsage clientAuth
  std::chrono::hours validity{24 * 365};
};

// A self-signed CA certificate valid for ten years.
Result<KeyPair> make_ca(const std::string& common_name);
// A leaf certificate for a fresh key, signed by `ca`.
Result<KeyPair> make_leaf(const KeyPair& ca, const CertRequest& request);

// The PEM's certificate subject, e.g. for checks in tests: CN and O values.
struct Subject {
  std::string common_name;
  std::vector<std::string> organizations;
};
Result<Subject> certificate_subject(const std::string& cert_pem);
// The same from a parsed certificate (the TLS layer's verified peer).
Subject subject_of(const x509_st* cert);

}  // namespace podnet::apiserver
