// Loading a kubeconfig (YAML subset or JSON) and resolving its current context into what a client
// needs to connect: server URL, CA, client certificate/key or token. File references are read here.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace podnet::client {

// The connection settings of one context, with every file already read.
struct ClusterAccess {
  std::string server;  // "https://127.0.0.1:6443"
  std::string ca_pem;  // empty: the system's trust store
  bool insecure_skip_tls_verify = false;
  std::string client_cert_pem, client_key_pem;  // both or neither
  std::string token;                            // bearer token; may be combined with a client cert
  std::string context;                          // the context used, for messages
};

// Resolves `context` (empty: current-context). Relative file paths are relative to `base_dir`, as
// kubectl resolves them against the kubeconfig's directory. Errors name the field and line:
// "users[0].user.client-key-data (line 12): invalid base64".
Result<ClusterAccess> parse_kubeconfig(std::string_view text, const std::string& base_dir,
                                       const std::string& context = "");
Result<ClusterAccess> load_kubeconfig(const std::string& path, const std::string& context = "");

// Standard base64 (RFC 4648, padding optional, whitespace ignored); nullopt-like error on bad input.
Result<std::string> base64_decode(std::string_view text);

}  // namespace podnet::client
