// Test certificates made with OpenSSL at run time: a CA, a server certificate for 127.0.0.1 and a
// client certificate, as PEM. Nothing is written to disk; nothing outlives the test process.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace podnet::testing {

struct TestKeyPair {
  std::string cert_pem, key_pem;
};

struct TestPki {
  TestKeyPair ca, server, client;

  static TestPki make(const std::string& server_ip = "127.0.0.1") {
    auto ca_key = new_key();
    auto ca = new_cert(
        1, ca_key.get(), "podnet-test-ca", nullptr, ca_key.get(),
        {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_key_usage, "critical,keyCertSign,cRLSign"}});
    auto srv_key = new_key();
    auto srv = new_cert(2, srv_key.get(), "podnet-test-server", ca.get(), ca_key.get(),
                        {{NID_subject_alt_name, "IP:" + server_ip}, {NID_ext_key_usage, "serverAuth"}});
    auto cli_key = new_key();
    auto cli = new_cert(3, cli_key.get(), "podnet-test-client", ca.get(), ca_key.get(),
                        {{NID_ext_key_usage, "clientAuth"}});
    return {{pem(ca.get()), pem(ca_key.get())},
            {pem(srv.get()), pem(srv_key.get())},
            {pem(cli.get()), pem(cli_key.get())}};
  }

 private:
  using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
  using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

  static Key new_key() {
    Key k(EVP_EC_gen("P-256"), EVP_PKEY_free);
    if (!k) throw std::runtime_error("EVP_EC_gen");
    return k;
  }

  static Cert new_cert(long serial, EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                       std::initializer_list<std::pair<int, std::string>> exts) {
    Cert c(X509_new(), X509_free);
    X509_set_version(c.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial);
    X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c.get()), 24 * 3600);
    X509_set_pubkey(c.get(), key);
    X509_NAME* name = X509_get_subject_name(c.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()),
                               -1, -1, 0);
    X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : c.get(), c.get(), nullptr, nullptr, 0);
    for (const auto& [nid, value] : exts) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      if (!ext) throw std::runtime_error("extension " + value);
      X509_add_ext(c.get(), ext, -1);
      X509_EXTENSION_free(ext);
    }
    if (X509_sign(c.get(), issuer_key, EVP_sha256()) == 0) throw std::runtime_error("X509_sign");
    return c;
  }

  template <class T>
  static std::string pem(T* obj) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    if constexpr (std::is_same_v<T, X509>)
      PEM_write_bio_X509(bio.get(), obj);
    else
      PEM_write_bio_PrivateKey(bio.get(), obj, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, n);
  }
};

}  // namespace podnet::testing
