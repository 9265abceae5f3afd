#include "common/tls_policy.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace podnet {

Status apply_tls_policy(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
    return fail_msg("TLS policy: minimum version TLS 1.2: OpenSSL error " + std::to_string(ERR_get_error()));
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1)
    return fail_msg("TLS policy: cipher list: OpenSSL error " + std::to_string(ERR_get_error()));
  // Renegotiation is a TLS 1.2 feature nobody here needs and a known DoS lever.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  return {};
}

CertSubject cert_subject(const X509* cert) {
  CertSubject out;
  const X509_NAME* name = X509_get_subject_name(cert);
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
    if (n < 0) continue;
    std::string value(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    if (nid == NID_commonName) out.common_name = value;
    if (nid == NID_organizationName) out.organizations.push_back(value);
  }
  return out;
}

}  // namespace podnet
