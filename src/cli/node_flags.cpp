#include "cli/node_flags.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "nft/nft.h"
#include "proxy/kernel.h"

namespace podnet::cli {

Result<boost::asio::ip::tcp::endpoint> parse_bind_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return fail_msg("bind address " + std::string(text) + ": want HOST:PORT");
  std::string_view host = text.substr(0, colon), port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint16_t port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size())
    return fail_msg("bind address " + std::string(text) + ": bad port");
  auto ip = parse_ip(std::string(host));
  if (!ip) return fail_msg("bind address " + std::string(text) + ": bad host");
  return boost::asio::ip::tcp::endpoint(*ip, port);
}

Result<std::vector<IpAddress>> host_addresses() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return fail("getifaddrs");
  std::vector<IpAddress> out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    IpAddress a;
    if (i->ifa_addr->sa_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      a = boost::asio::ip::address_v4(ntohl(sin->sin_addr.s_addr));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      boost::asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), sin6->sin6_addr.s6_addr, 16);
      auto v6 = boost::asio::ip::address_v6(b);
      if (v6.is_link_local()) continue;
      a = v6;
    } else {
      continue;
    }
    if (a.is_loopback() || std::find(out.begin(), out.end(), a) != out.end()) continue;
    out.push_back(a);
  }
  ::freeifaddrs(list);
  return out;
}

Status cleanup_proxy_tables(const std::string& table) {
  PODNET_TRY(nft, nft::Nft::open());
  proxy::RulesetConfig cfg;
  cfg.table = table;
  if (auto s = proxy::remove_proxy_tables(nft, cfg); !s)
    return std::unexpected(wrap(s.error(), "remove proxy tables"));
  return {};
}

}  // namespace podnet::cli
