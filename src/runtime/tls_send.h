// Writing a whole buffer to a blocking TLS connection: what every session thread of the node's
// :10250 server (logs, exec, attach, port-forward, pod proxy) does with its client.
#pragma once

#include <openssl/ssl.h>

#include <string_view>

namespace podnet::runtime {

// False once the connection fails (the peer went away, or a TLS error): the caller ends the session.
inline bool send_all(SSL* ssl, std::string_view data) {
  while (!data.empty()) {
    size_t n = 0;
    if (SSL_write_ex(ssl, data.data(), data.size(), &n) != 1) return false;
    data.remove_prefix(n);
  }
  return true;
}

}  // namespace podnet::runtime
