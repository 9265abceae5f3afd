// Credential files: pki/{ca,apiserver,admin,apiserver-kubelet-client}.{crt,key}. Private keys are 0600 from
// the moment they exist (created with that mode, not chmod'ed later), and every file is replaced atomically.
#include "apiserver/auth/tls_bootstrap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/fd.h"
#include "common/files.h"

namespace podnet::apiserver {
namespace {

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Result<KeyPair> load_pair(const std::string& base) {
  PODNET_TRY(cert, read_file(base + ".crt"));
  PODNET_TRY(key, read_file(base + ".key"));
  return KeyPair{std::move(cert), std::move(key)};
}

Status store_pair(const std::string& base, const KeyPair& pair) {
  if (auto s = write_private_file(base + ".key", pair.key_pem); !s) return s;
  return write_private_file(base + ".crt", pair.cert_pem);
}

// Loads base.{crt,key} or makes and stores a new pair.
template <class Make>
Result<KeyPair> load_or_make(const std::string& base, Make make) {
  if (exists(base + ".crt") && exists(base + ".key")) return load_pair(base);
  PODNET_TRY(pair, make());
  if (auto s = store_pair(base, pair); !s) return std::unexpected(s.error());
  return pair;
}

std::vector<std::string> serving_ips(const BootstrapOptions& options) {
  std::vector<std::string> ips{"127.0.0.1"};
  for (const auto& ip : options.serving_ips)
    if (std::find(ips.begin(), ips.end(), ip) == ips.end()) ips.push_back(ip);
  return ips;
}

// The text openssl prints for a SAN IP entry is not at hand here; a marker file records the
// addresses the serving certificate was issued for instead.
std::string sans_fingerprint(const BootstrapOptions& options) {
  std::string out;
  for (const auto& ip : serving_ips(options)) out += "IP:" + ip + "\n";
  for (const auto& d : options.serving_dns) out += "DNS:" + d + "\n";
  return out;
}

}  // namespace

Status write_private_file(const std::string& path, const std::string& content) {
  return write_file_atomic(path, content, 0600, /*sync=*/true);
}

Result<ServerCredentials> ensure_credentials(const BootstrapOptions& options) {
  if (auto s = make_dirs(options.pki_dir, 0700); !s) return std::unexpected(s.error());
  const std::string dir = options.pki_dir + "/";
  ServerCredentials creds;
  PODNET_TRY(ca, load_or_make(dir + "ca", [] { return make_ca("podnet-ca"); }));
  creds.ca = std::move(ca);

  const std::string fingerprint = sans_fingerprint(options);
  auto recorded = read_file(dir + "apiserver.sans");
  if (!recorded || *recorded != fingerprint) {
    ::unlink((dir + "apiserver.crt").c_str());  // re-issued below for the new addresses
  }
  PODNET_TRY(serving, load_or_make(dir + "apiserver", [&] {
               CertRequest req;
               req.common_name = "podnet-apiserver";
               req.server_auth = true;
               req.ip_addresses = serving_ips(options);
               req.dns_names = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"};
               for (const auto& d : options.serving_dns) req.dns_names.push_back(d);
               return make_leaf(creds.ca, req);
             }));
  creds.serving = std::move(serving);
  if (auto s = write_file_atomic(dir + "apiserver.sans", fingerprint); !s) return std::unexpected(s.error());

  PODNET_TRY(admin, load_or_make(dir + "admin", [&] {
               CertRequest req;
               req.common_name = "podnet-admin";
               req.organizations = {"system:masters"};
               req.client_auth = true;
               return make_leaf(creds.ca, req);
             }));
  creds.admin = std::move(admin);

  PODNET_TRY(kubelet_client, load_or_make(dir + "apiserver-kubelet-client", [&] {
               CertRequest req;
               req.common_name = "kube-apiserver-kubelet-client";
               req.client_auth = true;
               return make_leaf(creds.ca, req);
             }));
  creds.kubelet_client = std::move(kubelet_client);
  return creds;
}

}  // namespace podnet::apiserver
