#include "apiserver/validation/ip_validation.h"

namespace podnet::apiserver {

IpAddress unmapped(const IpAddress& ip) {
  if (ip.is_v6() && ip.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, ip.to_v6());
  return ip;
}

std::vector<std::string> special_ip_errors(const IpAddress& address, const std::string& text) {
  // ::ffff:127.0.0.1 reaches 127.0.0.1: judged as the IPv4 address it stands for (Go does the same).
  const IpAddress ip = unmapped(address);
  bool link_local = false, ll_multicast = false;
  if (ip.is_v4()) {
    uint32_t a = ip.to_v4().to_uint();
    link_local = (a >> 16) == 0xa9fe;     // 169.254/16
    ll_multicast = (a >> 8) == 0xe00000;  // 224.0.0/24
  } else {
    auto b = ip.to_v6().to_bytes();
    link_local = b[0] == 0xfe && (b[1] & 0xc0) == 0x80;    // fe80::/10
    ll_multicast = b[0] == 0xff && (b[1] & 0x0f) == 0x02;  // ff02::/16 (Go: multicast, link-local scope)
  }
  std::vector<std::string> out;
  if (ip.is_unspecified()) out.push_back("may not be unspecified (" + text + ")");
  if (ip.is_loopback()) out.push_back("may not be in the loopback range (127.0.0.0/8, ::1/128)");
  if (link_local) out.push_back("may not be in the link-local range (169.254.0.0/16, fe80::/10)");
  if (ll_multicast) out.push_back("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)");
  return out;
}

}  // namespace podnet::apiserver
