// Offsets are computed on the last 8 bytes of the address: a range is at most 2^20 addresses,
// so the network part above them never differs within it.
#include "apiserver/registry/ip_allocator.h"

#include <limits>

namespace podnet::apiserver {
namespace {

constexpr size_t kMaxSize = size_t{1} << 20;
constexpr size_t kNpos = std::numeric_limits<size_t>::max();

uint64_t low64(const IpAddress& ip) {
  if (ip.is_v4()) return ip.to_v4().to_uint();
  auto b = ip.to_v6().to_bytes();
  uint64_t v = 0;
  for (int i = 8; i < 16; ++i) v = v << 8 | b[i];
  return v;
}

}  // namespace

Result<IpAllocator> IpAllocator::create(const IpPrefix& cidr) {
  IpPrefix net = cidr.network();
  int host_bits = net.max_len() - net.len;
  if (host_bits > 20)
    return fail_msg("service CIDR " + net.str() +
                    " is too large; the mask must be >= " + std::to_string(net.max_len() - 20));
  if (host_bits < 2) return fail_msg("service CIDR " + net.str() + " is too small");
  size_t total = size_t{1} << host_bits;
  // Not the network address; for IPv4 not the broadcast either.
  size_t size = total - (net.is_v4() ? 2 : 1);
  return IpAllocator(net, std::min(size, kMaxSize));
}

IpAllocator::IpAllocator(IpPrefix cidr, size_t size)
    : cidr_(std::move(cidr)),
      bits_(size, static_band_size(size_t{1} << (cidr_.max_len() - cidr_.len), 16, 16, 256)) {}

size_t IpAllocator::offset_of(const IpAddress& ip) const {
  if (!cidr_.contains(ip)) return kNpos;
  uint64_t off = low64(ip) - low64(cidr_.addr);
  if (off == 0 || off > bits_.size()) return kNpos;
  return static_cast<size_t>(off - 1);
}

bool IpAllocator::contains(const IpAddress& ip) const {
  return offset_of(ip) != kNpos;
}

bool IpAllocator::has(const IpAddress& ip) const {
  size_t off = offset_of(ip);
  return off != kNpos && bits_.has(off);
}

std::expected<void, std::string> IpAllocator::allocate(const IpAddress& ip) {
  size_t off = offset_of(ip);
  if (off == kNpos)
    return std::unexpected("the provided IP (" + ip.to_string() +
                           ") is not in the valid range. The range of valid IPs is " + cidr_.str());
  if (!bits_.allocate(off)) return std::unexpected(std::string("provided IP is already allocated"));
  return {};
}

std::expected<IpAddress, std::string> IpAllocator::allocate_next(std::mt19937_64& random) {
  auto off = bits_.allocate_next(random);
  if (!off) return std::unexpected(std::string("range is full"));
  return ip_add(cidr_.addr, static_cast<int64_t>(*off) + 1);
}

void IpAllocator::release(const IpAddress& ip) {
  size_t off = offset_of(ip);
  if (off != kNpos) bits_.release(off);
}

}  // namespace podnet::apiserver
