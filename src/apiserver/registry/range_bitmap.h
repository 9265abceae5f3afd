// A bitmap of the offsets 0..size-1 of an allocation range (service IPs, node ports), with kube's
// split into a low "static" band kept for requested values and a high band dynamic picks try first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

namespace podnet::apiserver {

class RangeBitmap {
 public:
  // `static_band`: offsets below it are handed out dynamically only once the rest is full.
  RangeBitmap(size_t size, size_t static_band);

  size_t size() const { return size_; }
  size_t used() const { return used_; }
  bool has(size_t offset) const;
  // False when the offset is already taken.
  bool allocate(size_t offset);
  // A free offset, starting at a random point of the dynamic band and scanning forward (so that
  // restarts and concurrent servers do not all pick the same values), then the static band.
  std::optional<size_t> allocate_next(std::mt19937_64& random);
  void release(size_t offset);

 private:
  std::optional<size_t> scan(size_t begin, size_t end, size_t start);

  size_t size_;
  size_t static_band_;
  size_t used_ = 0;
  std::vector<uint64_t> words_;
};

// kube's static band: min(max(min_size, size / divisor), max_size), and none for small ranges.
size_t static_band_size(size_t size, size_t min_size, size_t divisor, size_t max_size);

}  // namespace podnet::apiserver
