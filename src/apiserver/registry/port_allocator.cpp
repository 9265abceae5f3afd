#include "apiserver/registry/port_allocator.h"

#include <charconv>

namespace podnet::apiserver {

Result<PortRange> parse_port_range(const std::string& text) {
  auto number = [](std::string_view s, int& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
  };
  std::string_view s(text);
  size_t dash = s.find('-');
  int lo = 0, hi = 0;
  bool ok = dash == std::string_view::npos ? number(s, lo) && (hi = lo, true)
                                           : number(s.substr(0, dash), lo) && number(s.substr(dash + 1), hi);
  if (!ok || lo < 1 || hi > 65535 || lo > hi)
    return fail_msg("invalid port range \"" + text + "\": want LOW-HIGH within 1-65535");
  return PortRange{lo, hi - lo + 1};
}

PortAllocator::PortAllocator(PortRange range)
    : range_(range), bits_(static_cast<size_t>(range.size), static_band_size(range.size, 16, 32, 128)) {}

bool PortAllocator::has(int port) const {
  return range_.contains(port) && bits_.has(static_cast<size_t>(port - range_.base));
}

std::expected<void, std::string> PortAllocator::allocate(int port) {
  if (!range_.contains(port))
    return std::unexpected("provided port is not in the valid range. The range of valid ports is " +
                           range_.str());
  if (!bits_.allocate(static_cast<size_t>(port - range_.base)))
    return std::unexpected(std::string("provided port is already allocated"));
  return {};
}

std::expected<int, std::string> PortAllocator::allocate_next(std::mt19937_64& random) {
  auto off = bits_.allocate_next(random);
  if (!off) return std::unexpected(std::string("range is full"));
  return range_.base + static_cast<int>(*off);
}

void PortAllocator::release(int port) {
  if (range_.contains(port)) bits_.release(static_cast<size_t>(port - range_.base));
}

}  // namespace podnet::apiserver
