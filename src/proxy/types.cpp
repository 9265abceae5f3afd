// Conversions and names for the proxy's desired-state types: compact addresses to and from
// text and Boost addresses, and the names of the shared chains.
#include "proxy/types.h"

#include <arpa/inet.h>

namespace podnet::proxy {

Ip Ip::from(const IpAddress& a) {
  Ip ip;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  } else {
    ip.bytes = a.to_v6().to_bytes();
    ip.v6 = true;
  }
  return ip;
}

std::string Ip::str() const {
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::string ChainSpec::name() const {
  std::string n = "svc-n" + std::to_string(endpoints);
  if (masquerade) n += "-masq";
  if (affinity_timeout) n += "-aff" + std::to_string(affinity_timeout);
  return n;
}

}  // namespace podnet::proxy
