// Certificate generation on OpenSSL 3: EC P-256 keys, X509v3 extensions through the config API
// (the same strings `openssl req` accepts), SHA-256 signatures.
#include "apiserver/auth/pki.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "common/c_ptr.h"

namespace podnet::apiserver {
namespace {

using PkeyPtr = CPtr<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = CPtr<X509, X509_free>;
using BioPtr = CPtr<BIO, BIO_free>;
using BnPtr = CPtr<BIGNUM, BN_free>;

std::unexpected<Error> ssl_fail(std::string what) {
  return fail_msg(what + ": OpenSSL error " + std::to_string(ERR_get_error()));
}

Result<PkeyPtr> make_key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return ssl_fail("generate EC P-256 key");
  return key;
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return ssl_fail("encode private key");
  return bio_string(bio.get());
}

Result<std::string> cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return ssl_fail("encode certificate");
  return bio_string(bio.get());
}

Result<X509Ptr> parse_cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return ssl_fail("parse certificate");
  return cert;
}

Result<PkeyPtr> parse_key(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return ssl_fail("parse private key");
  return key;
}

// A new certificate with a random 128-bit serial, subject and validity set, not yet signed.
Result<X509Ptr> new_cert(EVP_PKEY* key, const std::string& cn, const std::vector<std::string>& orgs,
                         std::chrono::hours validity) {
  X509Ptr cert(X509_new());
  if (!cert) return ssl_fail("allocate certificate");
  X509_set_version(cert.get(), X509_VERSION_3);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return ssl_fail("random serial");
  serial[0] &= 0x7f;  // serials are positive
  BnPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()))) return ssl_fail("serial");
  // Back-dated an hour so a client whose clock lags a little still accepts a fresh certificate.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                  std::chrono::duration_cast<std::chrono::seconds>(validity).count());
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& o : orgs)
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(o.c_str()),
                               -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  if (X509_set_pubkey(cert.get(), key) != 1) return ssl_fail("set public key");
  return cert;
}

Status add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return ssl_fail("extension " + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return ssl_fail("add extension " + value);
  return {};
}

Result<KeyPair> sign_and_encode(X509* cert, EVP_PKEY* signer, EVP_PKEY* key) {
  if (X509_sign(cert, signer, EVP_sha256()) <= 0) return ssl_fail("sign certificate");
  PODNET_TRY(c, cert_pem(cert));
  PODNET_TRY(k, key_pem(key));
  return KeyPair{std::move(c), std::move(k)};
}

}  // namespace

Result<KeyPair> make_ca(const std::string& common_name) {
  PODNET_TRY(key, make_key());
  PODNET_TRY(cert, new_cert(key.get(), common_name, {}, std::chrono::hours(24 * 365 * 10)));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  if (auto s = add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE"); !s)
    return std::unexpected(s.error());
  if (auto s =
          add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
      !s)
    return std::unexpected(s.error());
  if (auto s = add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash"); !s)
    return std::unexpected(s.error());
  return sign_and_encode(cert.get(), key.get(), key.get());
}

Result<KeyPair> make_leaf(const KeyPair& ca, const CertRequest& request) {
  PODNET_TRY(ca_cert, parse_cert(ca.cert_pem));
  PODNET_TRY(ca_key, parse_key(ca.key_pem));
  PODNET_TRY(key, make_key());
  PODNET_TRY(cert, new_cert(key.get(), request.common_name, request.organizations, request.validity));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  if (auto s = add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"); !s)
    return std::unexpected(s.error());
  if (auto s = add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
      !s)
    return std::unexpected(s.error());
  std::string eku;
  if (request.server_auth) eku += "serverAuth";
  if (request.client_auth) eku += std::string(eku.empty() ? "" : ",") + "clientAuth";
  if (!eku.empty()) {
    if (auto s = add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, eku); !s)
      return std::unexpected(s.error());
  }
  std::string san;
  for (const auto& d : request.dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : request.ip_addresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
  if (!san.empty()) {
    if (auto s = add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, san); !s)
      return std::unexpected(s.error());
  }
  if (auto s = add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always"); !s)
    return std::unexpected(s.error());
  return sign_and_encode(cert.get(), ca_key.get(), key.get());
}

Subject subject_of(const x509_st* cert) {
  Subject out;
  const X509_NAME* name = X509_get_subject_name(cert);
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, data);
    if (n < 0) continue;
    std::string value(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    if (nid == NID_commonName) out.common_name = value;
    if (nid == NID_organizationName) out.organizations.push_back(value);
  }
  return out;
}

Result<Subject> certificate_subject(const std::string& cert_pem) {
  PODNET_TRY(cert, parse_cert(cert_pem));
  return subject_of(cert.get());
}

}  // namespace podnet::apiserver
