#include "common/ip.h"

#include <algorithm>
#include <charconv>

#include "common/ip_scope.h"

namespace podnet {
namespace {

using Bytes16 = boost::asio::ip::address_v6::bytes_type;

Bytes16 to_bytes(const IpAddress& a) {
  if (a.is_v6()) return a.to_v6().to_bytes();
  Bytes16 b{};
  auto v4 = a.to_v4().to_bytes();
  std::copy(v4.begin(), v4.end(), b.begin() + 12);
  return b;
}

IpAddress from_bytes(const Bytes16& b, bool v4) {
  if (!v4) return boost::asio::ip::address_v6(b);
  boost::asio::ip::address_v4::bytes_type v{};
  std::copy(b.begin() + 12, b.end(), v.begin());
  return boost::asio::ip::address_v4(v);
}

// Keeps the first `len` bits of the address (len counted within its own family).
Bytes16 mask_bytes(Bytes16 b, int len, bool v4, bool set_host_bits) {
  int bits = v4 ? len + 96 : len;
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(bits - i * 8, 0, 8);
    uint8_t mask = keep == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
    if (v4 && i < 12) continue;
    b[i] = set_host_bits ? static_cast<uint8_t>(b[i] | ~mask) : static_cast<uint8_t>(b[i] & mask);
  }
  return b;
}

}  // namespace

Result<IpAddress> parse_ip(std::string_view text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return fail_msg("invalid IP address \"" + std::string(text) + "\"");
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return IpAddress(a.to_v6().to_v4());
  return a;
}

Result<IpPrefix> parse_prefix(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return fail_msg("invalid CIDR \"" + std::string(text) + "\": no prefix length");
  auto addr = parse_ip(text.substr(0, slash));
  if (!addr) return fail_msg("invalid CIDR \"" + std::string(text) + "\": bad address");
  int len = -1;
  auto lt = text.substr(slash + 1);
  auto [p, ec] = std::from_chars(lt.data(), lt.data() + lt.size(), len);
  IpPrefix out{*addr, len};
  if (ec != std::errc() || p != lt.data() + lt.size() || len < 0 || len > out.max_len())
    return fail_msg("invalid CIDR \"" + std::string(text) + "\": bad prefix length");
  return out;
}

IpPrefix IpPrefix::network() const {
  return {from_bytes(mask_bytes(to_bytes(addr), len, is_v4(), false), is_v4()), len};
}

IpAddress IpPrefix::last() const {
  return from_bytes(mask_bytes(to_bytes(addr), len, is_v4(), true), is_v4());
}

bool IpPrefix::contains(const IpAddress& a) const {
  if (a.is_v4() != is_v4()) return false;
  return IpPrefix{a, len}.network().addr == network().addr;
}

std::string IpPrefix::str() const {
  return addr.to_string() + "/" + std::to_string(len);
}

IpAddress ip_add(const IpAddress& a, int64_t delta) {
  Bytes16 b = to_bytes(a);
  // Two's-complement addition over the 128-bit big-endian number.
  unsigned __int128 v = 0;
  for (auto byte : b) v = (v << 8) | byte;
  v += static_cast<unsigned __int128>(static_cast<__int128>(delta));
  for (int i = 15; i >= 0; --i) {
    b[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return from_bytes(b, a.is_v4());
}

std::strong_ordering ip_compare(const IpAddress& a, const IpAddress& b) {
  if (a.is_v4() != b.is_v4()) return a.is_v4() ? std::strong_ordering::less : std::strong_ordering::greater;
  auto x = to_bytes(a), y = to_bytes(b);
  return x <=> y;
}

bool ip_global_unicast(const IpAddress& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return ip_global_unicast(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()));
  if (a.is_unspecified() || a.is_loopback() || a.is_multicast()) return false;
  if (a.is_v4()) {
    uint32_t v = a.to_v4().to_uint();
    return (v >> 16) != 0xa9fe && v != 0xffffffffu;
  }
  auto b = a.to_v6().to_bytes();
  return !(b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

}  // namespace podnet
