// Node ports out of --node-port-range, as kube-apiserver's port allocator: requested ports are
// checked against the range, dynamic ones prefer the upper part; errors carry kube's text.
#pragma once

#include <expected>
#include <random>
#include <string>

#include "apiserver/registry/range_bitmap.h"
#include "common/error.h"

namespace podnet::apiserver {

struct PortRange {
  int base = 30000;
  int size = 2768;  // 30000-32767

  std::string str() const { return std::to_string(base) + "-" + std::to_string(base + size - 1); }
  bool contains(int port) const { return port >= base && port < base + size; }
};

// "30000-32767" (or a single port "30000").
Result<PortRange> parse_port_range(const std::string& text);

class PortAllocator {
 public:
  explicit PortAllocator(PortRange range);

  const PortRange& range() const { return range_; }
  bool has(int port) const;
  size_t used() const { return bits_.used(); }
  // "provided port is not in the valid range. The range of valid ports is 30000-32767",
  // "provided port is already allocated", "range is full".
  std::expected<void, std::string> allocate(int port);
  std::expected<int, std::string> allocate_next(std::mt19937_64& random);
  void release(int port);  // a free or out-of-range port is a no-op

 private:
  PortRange range_;
  RangeBitmap bits_;
};

}  // namespace podnet::apiserver
