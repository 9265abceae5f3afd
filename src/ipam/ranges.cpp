#include "ipam/ranges.h"

#include "ipam/store.h"

namespace podnet::ipam {
namespace {

bool in_order(const IpAddress& a, const IpAddress& b, const IpAddress& c) {
  return ip_compare(a, b) <= 0 && ip_compare(b, c) <= 0;
}

// The broadcast address is unusable on IPv4 only; IPv6 has no broadcast.
IpAddress default_last(const IpPrefix& subnet) {
  auto last = subnet.last();
  return subnet.is_v4() ? ip_add(last, -1) : last;
}

Status check_in_subnet(const char* field, const std::optional<IpAddress>& a, const IpPrefix& subnet) {
  if (a && !subnet.contains(*a))
    return fail_msg(std::string(field) + " " + a->to_string() + " not in subnet " + subnet.str());
  return {};
}

std::string range_name(size_t set, size_t range) {
  return "ranges[" + std::to_string(set) + "][" + std::to_string(range) + "]";
}

bool overlaps(const Range& a, const Range& b) {
  if (a.subnet.is_v4() != b.subnet.is_v4()) return false;
  return ip_compare(a.first(), b.last()) <= 0 && ip_compare(b.first(), a.last()) <= 0;
}

Status check_range_set(RangeSet& set, size_t i) {
  auto where = "ranges[" + std::to_string(i) + "]";
  if (set.empty()) return fail_msg(where + ": empty range set");
  for (size_t j = 0; j < set.size(); ++j) {
    if (auto s = set[j].canonicalize(); !s) return std::unexpected(wrap(s.error(), range_name(i, j)));
    if (set[j].subnet.is_v4() != set[0].subnet.is_v4())
      return fail_msg(where + ": mixed address families (" + set[0].subnet.str() + " and " +
                      set[j].subnet.str() + ")");
  }
  return {};
}

}  // namespace

Status Range::canonicalize() {
  subnet = subnet.network();
  // Without room for a gateway plus one address there is nothing to hand out.
  if (subnet.len > subnet.max_len() - 2)
    return fail_msg("subnet: network " + subnet.str() + " too small to allocate from");
  if (auto s = check_in_subnet("gateway", gateway, subnet); !s) return s;
  if (auto s = check_in_subnet("rangeStart", range_start, subnet); !s) return s;
  if (auto s = check_in_subnet("rangeEnd", range_end, subnet); !s) return s;
  gateway = gateway.value_or(ip_add(subnet.addr, 1));
  range_start = first();
  range_end = last();
  if (ip_compare(*range_start, *range_end) > 0)
    return fail_msg("rangeStart " + range_start->to_string() + " is after rangeEnd " +
                    range_end->to_string());
  return {};
}

IpAddress Range::first() const {
  return range_start.value_or(ip_add(subnet.network().addr, 1));
}

IpAddress Range::last() const {
  return range_end.value_or(default_last(subnet));
}

bool Range::contains(const IpAddress& a) const {
  return subnet.contains(a) && in_order(first(), a, last());
}

Status canonicalize(Config& cfg) {
  if (auto s = check_network(cfg); !s) return s;
  if (cfg.ranges.empty()) return fail_msg("ranges: no IP ranges specified");
  for (size_t i = 0; i < cfg.ranges.size(); ++i)
    if (auto s = check_range_set(cfg.ranges[i], i); !s) return s;
  // Overlapping ranges would let two range sets (or two ranges of one set) claim the same file.
  for (size_t i = 0; i < cfg.ranges.size(); ++i)
    for (size_t j = i; j < cfg.ranges.size(); ++j)
      for (size_t a = 0; a < cfg.ranges[i].size(); ++a)
        for (size_t b = (i == j ? a + 1 : 0); b < cfg.ranges[j].size(); ++b) {
          const auto& x = cfg.ranges[i][a];
          const auto& y = cfg.ranges[j][b];
          if (overlaps(x, y))
            return fail_msg(range_name(i, a) + " " + to_string(x) + " and " + range_name(j, b) + " " +
                            to_string(y) + " overlap");
        }
  return {};
}

std::string to_string(const Range& r) {
  return r.first().to_string() + "-" + r.last().to_string();
}

std::string to_string(const RangeSet& set) {
  std::string out;
  for (const auto& r : set) {
    if (!out.empty()) out += ",";
    out += to_string(r);
  }
  return out;
}

const Range* range_for(const RangeSet& set, const IpAddress& a) {
  for (const auto& r : set)
    if (r.contains(a)) return &r;
  return nullptr;
}

const char* special_address(const Range& r, const IpAddress& a) {
  auto network = r.subnet.network().addr;
  if (a == r.gateway.value_or(ip_add(network, 1))) return "the gateway";
  if (a == network) return "the network address";
  if (r.subnet.is_v4() && a == r.subnet.last()) return "the broadcast address";
  return nullptr;
}

Cursor::Cursor(const RangeSet& set, const std::optional<IpAddress>& last) : set_(set) {
  // A last_reserved_ip outside the set (ranges changed since) just restarts the walk, like host-local.
  for (size_t i = 0; last && i < set_.size(); ++i) {
    if (set_[i].contains(*last)) {
      idx_ = i;
      pos_ = *last;
      advance();
      begin_idx_ = idx_;
      begin_ = pos_;
      return;
    }
  }
  pos_ = begin_ = set_.front().first();
}

void Cursor::advance() {
  if (pos_ == set_[idx_].last()) {
    idx_ = (idx_ + 1) % set_.size();
    pos_ = set_[idx_].first();
  } else {
    pos_ = ip_add(pos_, 1);
  }
}

std::optional<Cursor::Candidate> Cursor::next() {
  while (!done_) {
    if (started_) {
      advance();
      if (idx_ == begin_idx_ && pos_ == begin_) {
        done_ = true;
        break;
      }
    }
    started_ = true;
    const Range& r = set_[idx_];
    if (!special_address(r, pos_)) return Candidate{&r, pos_};
  }
  return std::nullopt;
}

}  // namespace podnet::ipam
