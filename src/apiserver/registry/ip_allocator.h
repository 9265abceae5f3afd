// Service cluster IPs out of one --service-cidr range (one IP family), as kube-apiserver's bitmap
// allocator: the network address (and IPv4 broadcast) are never handed out, errors carry kube's text.
#pragma once

#include <expected>
#include <random>
#include <string>

#include "apiserver/registry/range_bitmap.h"
#include "common/error.h"
#include "common/ip.h"

namespace podnet::apiserver {

class IpAllocator {
 public:
  // Ranges over 2^20 addresses are refused, as kube-apiserver refuses them (/12 for IPv4, /108
  // for IPv6): the bitmap is held in memory.
  static Result<IpAllocator> create(const IpPrefix& cidr);

  const IpPrefix& cidr() const { return cidr_; }
  const char* family() const { return cidr_.is_v4() ? "IPv4" : "IPv6"; }
  bool contains(const IpAddress& ip) const;  // an allocatable address of this range
  bool has(const IpAddress& ip) const;
  size_t used() const { return bits_.used(); }

  // kube's error texts: "provided IP is already allocated", "the provided IP (x) is not in the
  // valid range. The range of valid IPs is <cidr>", "range is full".
  std::expected<void, std::string> allocate(const IpAddress& ip);
  std::expected<IpAddress, std::string> allocate_next(std::mt19937_64& random);
  // Releasing a free or foreign address is a no-op (the range may have changed between runs).
  void release(const IpAddress& ip);

 private:
  IpAllocator(IpPrefix cidr, size_t size);
  // The address's offset from the first usable one, or npos.
  size_t offset_of(const IpAddress& ip) const;

  IpPrefix cidr_;  // network form
  RangeBitmap bits_;
};

}  // namespace podnet::apiserver
