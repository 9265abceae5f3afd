#include "controllers/prefix_allocator.h"

namespace podnet::controllers {
namespace {

using u128 = unsigned __int128;

u128 to_number(const IpAddress& a) {
  u128 v = 0;
  if (a.is_v4()) return a.to_v4().to_uint();
  for (auto byte : a.to_v6().to_bytes()) v = (v << 8) | byte;
  return v;
}

IpAddress from_number(u128 v, bool v4) {
  if (v4) return boost::asio::ip::address_v4(static_cast<uint32_t>(v));
  boost::asio::ip::address_v6::bytes_type b;
  for (int i = 15; i >= 0; --i) {
    b[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return boost::asio::ip::address_v6(b);
}

}  // namespace

Result<PrefixAllocator> PrefixAllocator::make(const IpPrefix& range, int sub_len, bool skip_ends) {
  IpPrefix net = range.network();
  if (sub_len < net.len || sub_len > net.max_len())
    return fail_msg("mask /" + std::to_string(sub_len) + " does not fit in " + net.str());
  if (sub_len - net.len > 32)
    return fail_msg("mask /" + std::to_string(sub_len) + " makes too many subnets of " + net.str());
  uint64_t total = uint64_t{1} << (sub_len - net.len);
  uint64_t first = 0, count = total;
  if (skip_ends && total > 2) {
    first = 1;
    count = total - 2;
  }
  return PrefixAllocator(net, sub_len, first, count);
}

PrefixAllocator::PrefixAllocator(IpPrefix range, int sub_len, uint64_t first, uint64_t count)
    : range_(range), sub_len_(sub_len), first_(first), count_(count), hint_(first) {}

IpPrefix PrefixAllocator::at(uint64_t index) const {
  u128 base = to_number(range_.addr);
  u128 step = u128{1} << (range_.max_len() - sub_len_);
  return IpPrefix{from_number(base + step * index, range_.is_v4()), sub_len_};
}

std::optional<uint64_t> PrefixAllocator::index_of(const IpPrefix& prefix) const {
  if (prefix.len != sub_len_ || prefix.is_v4() != range_.is_v4() || !range_.contains(prefix.addr))
    return std::nullopt;
  u128 offset = to_number(prefix.addr) - to_number(range_.addr);
  int shift = range_.max_len() - sub_len_;
  if (shift < 128 && (offset & ((u128{1} << shift) - 1)) != 0) return std::nullopt;  // host bits set
  uint64_t index = static_cast<uint64_t>(offset >> shift);
  if (index < first_ || index >= first_ + count_) return std::nullopt;
  return index;
}

std::optional<IpPrefix> PrefixAllocator::allocate() {
  if (used_.size() >= count_) return std::nullopt;
  // Lowest free from the hint, wrapping once: with `used_` sorted this is a walk over used entries.
  for (int pass = 0; pass < 2; ++pass) {
    uint64_t i = pass == 0 ? hint_ : first_;
    for (auto it = used_.lower_bound(i); i < first_ + count_; ++i, ++it) {
      if (it == used_.end() || *it != i) {
        used_.insert(i);
        hint_ = i + 1;
        return at(i);
      }
    }
  }
  return std::nullopt;
}

bool PrefixAllocator::occupy(const IpPrefix& prefix) {
  auto index = index_of(prefix);
  return index && used_.insert(*index).second;
}

void PrefixAllocator::release(const IpPrefix& prefix) {
  if (auto index = index_of(prefix)) {
    used_.erase(*index);
    hint_ = std::min(hint_, *index);
  }
}

bool PrefixAllocator::contains(const IpPrefix& prefix) const {
  return index_of(prefix).has_value();
}

uint64_t PrefixAllocator::free_count() const {
  return count_ - used_.size();
}

}  // namespace podnet::controllers
